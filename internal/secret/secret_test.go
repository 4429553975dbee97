package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New([]byte("k1"))
	if err != nil {
		t.Fatal(err)
	}
	s := b.Seal("hunter2")
	if !Sealed(s) || strings.Contains(s, "hunter2") {
		t.Fatalf("sealed value leaks plaintext: %s", s)
	}
	if s == b.Seal("hunter2") {
		t.Fatalf("nonce reused: two seals are equal")
	}
	got, err := b.Open(s)
	if err != nil || got != "hunter2" {
		t.Fatalf("open: %q %v", got, err)
	}
	other, _ := New([]byte("k2"))
	if _, err := other.Open(s); err == nil {
		t.Fatalf("opened with the wrong key")
	}
	if _, err := b.Open("enc:v1:!!"); err == nil {
		t.Fatalf("opened garbage")
	}
}

func TestLoadGeneratesKeyFileOnce(t *testing.T) {
	dir := t.TempDir()
	b1, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	b2, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b2.Open(b1.Seal("x")); err != nil || got != "x" {
		t.Fatalf("reloaded key differs: %v", err)
	}
	env, _ := Load("from-env", dir)
	if _, err := env.Open(b1.Seal("x")); err == nil {
		t.Fatalf("RUNNEL_SECRET_KEY did not override the key file")
	}
}

func TestDerive(t *testing.T) {
	a, _ := New([]byte("key one"))
	a2, _ := New([]byte("key one"))
	b, _ := New([]byte("key two"))
	x := a.Derive("mask-salt/ws/str_1")
	if len(x) != 32 || !bytes.Equal(x, a2.Derive("mask-salt/ws/str_1")) {
		t.Fatalf("derive is not stable for one key: %x", x)
	}
	if bytes.Equal(x, a.Derive("mask-salt/ws/str_2")) || bytes.Equal(x, b.Derive("mask-salt/ws/str_1")) {
		t.Fatal("derive gives the same bytes for another label or key")
	}
}

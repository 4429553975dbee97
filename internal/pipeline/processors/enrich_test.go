package processors

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func TestEnrichStatic(t *testing.T) {
	runTable(t, Options{}, []behaviour{
		{"top level", `[{'enrich':{'static':{'team':'payments','tags':['a']}}}]`, `{"a":1,"team":"old"}`, `{"a":1,"team":"payments","tags":["a"]}`, ""},
		{"at target", `[{'enrich':{'static':{'team':'payments'},'target':'metadata'}}]`, `{"metadata":{"env":"prod"}}`, `{"metadata":{"env":"prod","team":"payments"}}`, ""},
		{"creates target", `[{'enrich':{'static':{'team':'p'},'target':'meta.owner'}}]`, `{}`, `{"meta":{"owner":{"team":"p"}}}`, ""},
		{"target null", `[{'enrich':{'static':{'team':'p'},'target':'m'}}]`, `{"m":null}`, `{"m":{"team":"p"}}`, ""},
		{"target scalar fails", `[{'enrich':{'static':{'team':'p'},'target':'m'}}]`, `{"m":3}`, "", "cannot merge into m: it is a number"},
		{"copies per event", `[{'enrich':{'static':{'o':{'k':1}}}},{'set':{'field':'o.j','value':2}}]`, `{}`, `{"o":{"k":1,"j":2}}`, ""},
	})
}

func TestEnrichLookup(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tables/skus.csv", "sku,name,price\nA-1,Widget,12\nB-7,\"Gadget, large\",99\n42,Answer,0\n")
	writeFile(t, dir, "by_name.csv", "name,sku\nWidget,A-1\n")
	opts := Options{LookupDir: dir}
	runTable(t, opts, []behaviour{
		{"hit", `[{'enrich':{'lookup':{'file':'tables/skus.csv','key':'event.sku','target':'event.product'}}}]`,
			`{"event":{"sku":"B-7"}}`, `{"event":{"sku":"B-7","product":{"sku":"B-7","name":"Gadget, large","price":"99"}}}`, ""},
		{"miss leaves event", `[{'enrich':{'lookup':{'file':'tables/skus.csv','key':'event.sku','target':'event.product'}}}]`,
			`{"event":{"sku":"Z"}}`, `{"event":{"sku":"Z"}}`, ""},
		{"missing key leaves event", `[{'enrich':{'lookup':{'file':'tables/skus.csv','key':'event.sku','target':'event.product'}}}]`,
			`{"event":{}}`, `{"event":{}}`, ""},
		{"number key", `[{'enrich':{'lookup':{'file':'tables/skus.csv','key':'n','target':'p'}}}]`,
			`{"n":42}`, `{"n":42,"p":{"sku":"42","name":"Answer","price":"0"}}`, ""},
		{"key_column", `[{'enrich':{'lookup':{'file':'by_name.csv','key':'name','target':'p','key_column':'sku'}}}]`,
			`{"name":"A-1"}`, `{"name":"A-1","p":{"name":"Widget","sku":"A-1"}}`, ""},
		{"absolute path inside the directory", `[{'enrich':{'lookup':{'file':'` + filepath.Join(dir, "by_name.csv") + `','key':'name','target':'p'}}}]`,
			`{"name":"Widget"}`, `{"name":"Widget","p":{"name":"Widget","sku":"A-1"}}`, ""},
		{"rows copied per event", `[{'enrich':{'lookup':{'file':'by_name.csv','key':'name','target':'p'}}},{'set':{'field':'p.extra','value':1}}]`,
			`{"name":"Widget"}`, `{"name":"Widget","p":{"name":"Widget","sku":"A-1","extra":1}}`, ""},
	})
	// The table is loaded at compile: later changes to the file do not
	// matter.
	c := mustCompile(t, `[{'enrich':{'lookup':{'file':'by_name.csv','key':'name','target':'p'}}}]`, opts)
	writeFile(t, dir, "by_name.csv", "name,sku\nWidget,CHANGED\n")
	out, _, _ := run(t, c, `{"name":"Widget"}`)
	if out != `{"name":"Widget","p":{"name":"Widget","sku":"A-1"}}` {
		t.Errorf("got %s", out)
	}
}

func TestLookupSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeFile(t, outside, "secret.csv", "k,v\na,b\n")
	if err := os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(dir, "link.csv")); err != nil {
		t.Skip(err)
	}
	wantErrs(t, `[{'enrich':{'lookup':{'file':'link.csv','key':'k','target':'t'}}}]`, Options{LookupDir: dir},
		map[string]string{"processors[0].enrich.lookup.file": "escapes"})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantErrs(t, `[{'enrich':{'lookup':{'file':'sub','key':'k','target':'t'}}}]`, Options{LookupDir: dir},
		map[string]string{"processors[0].enrich.lookup.file": "not a regular file"})
}

// writeGeoDB writes a small City+ASN-like MaxMind DB.
func writeGeoDB(t *testing.T, path string) {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "Runnel-Test-City", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(cidr string, rec mmdbtype.Map) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	insert("81.2.69.0/24", mmdbtype.Map{
		"country":                        mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": mmdbtype.Map{"en": mmdbtype.String("United Kingdom")}},
		"city":                           mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
		"location":                       mmdbtype.Map{"latitude": mmdbtype.Float64(51.5142), "longitude": mmdbtype.Float64(-0.0931), "time_zone": mmdbtype.String("Europe/London")},
		"autonomous_system_number":       mmdbtype.Uint32(20712),
		"autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd"),
	})
	insert("2001:db8:1::/48", mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")},
	})
	insert("10.0.0.0/8", mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(64512),
	})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEnrichGeoIP(t *testing.T) {
	dir := t.TempDir()
	writeGeoDB(t, filepath.Join(dir, "city.mmdb"))
	procs := `[{'enrich':{'geoip':{'field':'remote_addr','target':'geo','database':'city.mmdb'}}}]`
	runTable(t, Options{LookupDir: dir}, []behaviour{
		{"city", procs, `{"remote_addr":"81.2.69.142"}`,
			`{"remote_addr":"81.2.69.142","geo":{"country_iso_code":"GB","country_name":"United Kingdom","city":"London","location":{"lat":51.5142,"lon":-0.0931},"time_zone":"Europe/London","asn":20712,"as_org":"Andrews & Arnold Ltd"}}`, ""},
		{"ipv6", procs, `{"remote_addr":"2001:db8:1::42"}`, `{"remote_addr":"2001:db8:1::42","geo":{"country_iso_code":"FR"}}`, ""},
		{"asn only", procs, `{"remote_addr":"10.1.2.3"}`, `{"remote_addr":"10.1.2.3","geo":{"asn":64512}}`, ""},
		{"ipv4-mapped", procs, `{"remote_addr":"::ffff:81.2.69.1"}`, `{"remote_addr":"::ffff:81.2.69.1","geo":{"country_iso_code":"GB","country_name":"United Kingdom","city":"London","location":{"lat":51.5142,"lon":-0.0931},"time_zone":"Europe/London","asn":20712,"as_org":"Andrews & Arnold Ltd"}}`, ""},
		{"not found", procs, `{"remote_addr":"192.0.2.1"}`, `{"remote_addr":"192.0.2.1"}`, ""},
		{"not an address", procs, `{"remote_addr":"localhost"}`, `{"remote_addr":"localhost"}`, ""},
		{"missing field", procs, `{}`, `{}`, ""},
	})
}

//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStore takes the lock a running server holds on <dataDir>/runnel.lock
// (see server.Run), so the store is never opened by two processes: the
// check refuses to run beside a server, and a server does not start while
// the check runs.
func lockStore(dataDir string) (func(), error) {
	path := filepath.Join(dataDir, "runnel.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the store in %s is in use by a running Runnel server (%s is locked): stop the server first, the buffer is verified offline", dataDir, path)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

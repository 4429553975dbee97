// Command sink is a small HTTP receiver for trying Runnel out and for
// benchmarks: it answers 200 to every request and prints each body (or,
// with -quiet, only counts of requests, lines and bytes every second).
//
//	go run ./cmd/sink -listen 127.0.0.1:9000
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	quiet := flag.Bool("quiet", false, "print only counts, once a second")
	flag.Parse()

	var reqs, lines, bytesIn atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "bad gzip", http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		reqs.Add(1)
		bytesIn.Add(int64(len(b)))
		lines.Add(int64(bytes.Count(b, []byte("\n")) + 1))
		if !*quiet {
			fmt.Printf("%s %s (%d bytes)\n%s\n", r.Method, r.URL.Path, len(b), b)
		}
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *quiet {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					fmt.Printf("requests=%d lines=%d bytes=%d\n", reqs.Load(), lines.Load(), bytesIn.Load())
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Fprintf(os.Stderr, "sink listening on %s\n", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package azureblob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"golang.org/x/sync/errgroup"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Operations, as they appear in errors.
const (
	opPutBlob      = "PutBlob"
	opPutBlock     = "PutBlock"
	opPutBlockList = "PutBlockList"
)

// Defaults of Options.
const (
	DefaultSingleUploadLimit = 16 << 20
	DefaultBlockSize         = 8 << 20
	DefaultConcurrency       = 4
	DefaultTimeout           = 60 * time.Second
	// maxBlocks is the service's limit of blocks per blob.
	maxBlocks = 50_000
	// CheckBlobName is the blob Check stages an (uncommitted) block on.
	CheckBlobName = ".runnel-check"
	// ContentType of the blobs.
	ContentType = "application/json"
)

// Options tune how blobs are uploaded; the zero value means the defaults.
// They are not settings: tests and benchmarks use them.
type Options struct {
	// SingleUploadLimit: a body larger than this is uploaded as blocks
	// (Put Block, then Put Block List) instead of one Put Blob (default
	// 16 MiB).
	SingleUploadLimit int
	// BlockSize is the size of every block but the last (default 8 MiB).
	BlockSize int
	// Concurrency is the number of blocks uploaded at once (default 4).
	Concurrency int
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.SingleUploadLimit <= 0 {
		o.SingleUploadLimit = DefaultSingleUploadLimit
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Kind describes the azure_blob destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:    "azure_blob",
		Aliases: []string{"azure_blob_storage"},
		Config:  func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("azure_blob destination: config is %T, want *azureblob.Config", c)
			}
			return New(cfg, d, Options{})
		},
		Batch:  model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// Destination writes every batch as one block blob. It is safe for
// concurrent use.
type Destination struct {
	// containerURL is the container's URL, without the token.
	containerURL string
	clientOpts   blockblob.ClientOptions
	httpClient   *http.Client
	ownsTranspt  bool
	container    string
	sas          string
	redactor     *strings.Replacer
	opts         Options
	timeout      time.Duration
	lastSize     atomic.Int64
	now          func() time.Time
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps, o Options) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("azure_blob destination: invalid settings: %w", errs)
	}
	o = o.withDefaults()
	d := &Destination{
		container: c.ContainerName,
		sas:       c.sas(),
		redactor:  newRedactor(c.sas()),
		opts:      o,
		timeout:   o.Timeout,
		now:       time.Now,
	}
	var rt http.RoundTripper
	if deps.HTTPClient != nil && deps.HTTPClient.Transport != nil {
		rt = deps.HTTPClient.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		t.WriteBufferSize = 64 << 10
		rt, d.ownsTranspt = t, true
	}
	d.httpClient = &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.containerURL = c.serviceURL() + "/" + url.PathEscape(c.ContainerName)
	d.clientOpts = blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: d.httpClient,
		// The deliverer is the only place that retries.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{ApplicationID: "runnel"},
	}}
	if _, err := d.blobClient(CheckBlobName); err != nil {
		return nil, err
	}
	return d, nil
}

// blobClient returns a client for one blob of the container. (The
// container package of the SDK is not used: it drags in Apache Arrow for
// listings this destination never makes.)
func (d *Destination) blobClient(name string) (*blockblob.Client, error) {
	bb, err := blockblob.NewClientWithNoCredential(d.containerURL+"/"+name+"?"+d.sas, &d.clientOpts)
	if err != nil {
		// The URL holds the token: do not repeat the SDK's message.
		return nil, retry.Permanent(fmt.Errorf("azure_blob destination: cannot build a blob URL from storage_account, endpoint and container_name"))
	}
	return bb, nil
}

// Deliver frames the batch and writes it as one block blob named
// YYYY/MM/DD/hh/mm/<uuid>.json (UTC).
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("azure blob %s aborted: %w", opPutBlob, err)
	}
	var framer destination.Framer = lineFramer{}
	if b.Framer != nil {
		framer = b.Framer
	}
	body := framer.Frame(make([]byte, 0, d.lastSize.Load()+4096), b.Records)
	d.lastSize.Store(int64(len(body)))
	bb, err := d.blobClient(d.blobName(d.now()))
	if err != nil {
		return err
	}
	if len(body) <= d.opts.SingleUploadLimit {
		return d.putBlob(ctx, bb, body)
	}
	return d.putBlocks(ctx, bb, body)
}

// blobName returns YYYY/MM/DD/hh/mm/<uuid>.json for t in UTC.
func (d *Destination) blobName(t time.Time) string {
	return t.UTC().Format("2006/01/02/15/04/") + newUUID() + ".json"
}

var headers = blob.HTTPHeaders{BlobContentType: ptr(ContentType)}

func (d *Destination) putBlob(ctx context.Context, bb *blockblob.Client, body []byte) error {
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	sum := md5.Sum(body)
	_, err := bb.Upload(rctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		HTTPHeaders:             &headers,
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
	})
	return d.classify(ctx, opPutBlob, err)
}

// putBlocks stages the body as blocks, Options.Concurrency at a time, and
// commits them. Blocks of a failed upload stay uncommitted: they are
// invisible and the service discards them after a week.
func (d *Destination) putBlocks(ctx context.Context, bb *blockblob.Client, body []byte) error {
	size := max(d.opts.BlockSize, (len(body)+maxBlocks-1)/maxBlocks)
	n := (len(body) + size - 1) / size
	ids := make([]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for i := range n {
		ids[i] = blockID(i)
		chunk := body[i*size : min((i+1)*size, len(body))]
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(gctx, d.timeout)
			defer cancel()
			sum := md5.Sum(chunk)
			_, err := bb.StageBlock(rctx, ids[i], streaming.NopCloser(bytes.NewReader(chunk)), &blockblob.StageBlockOptions{
				TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
			})
			return d.classify(gctx, opPutBlock, err)
		})
	}
	if err := g.Wait(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("azure blob %s aborted: %w", opPutBlock, cerr)
		}
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := bb.CommitBlockList(rctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: &headers})
	return d.classify(ctx, opPutBlockList, err)
}

// blockID is the base64 of the block's index on 8 bytes: the IDs of one
// blob must all have the same length.
func blockID(i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return base64.StdEncoding.EncodeToString(b[:])
}

// checkBlockID is the block Check stages, always the same so that probes
// replace each other.
var checkBlockID = base64.StdEncoding.EncodeToString([]byte("runnel-check"))

// Check stages one uncommitted 1-byte block on the blob ".runnel-check":
// this proves the endpoint answers, the token is valid and not expired,
// the container exists and the token may write (Put Block needs Write),
// without creating a visible blob. Uncommitted blocks are not listed and
// the service discards them after a week.
func (d *Destination) Check(ctx context.Context) error {
	if exp, ok := sasExpiry(d.sas); ok && time.Now().After(exp) {
		return retry.Permanent(fmt.Errorf("azure blob: the SAS token expired at %s: issue a new one", exp.UTC().Format(time.RFC3339)))
	}
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	bb, err := d.blobClient(CheckBlobName)
	if err != nil {
		return err
	}
	_, err = bb.StageBlock(rctx, checkBlockID, streaming.NopCloser(bytes.NewReader([]byte{'\n'})), nil)
	return d.classify(ctx, opPutBlock, err)
}

// Close releases the idle connections of the destination's own transport.
func (d *Destination) Close(context.Context) error {
	if d.ownsTranspt {
		d.httpClient.CloseIdleConnections()
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

func ptr[T any](v T) *T { return &v }

// lineFramer joins records with "\n" when a batch comes without a framer.
type lineFramer struct{}

func (lineFramer) Frame(dst []byte, records [][]byte) []byte {
	for i, r := range records {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, r...)
	}
	return dst
}

package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
)

// S3 operations, as they appear in errors.
const (
	opPutObject       = "PutObject"
	opCreateMultipart = "CreateMultipartUpload"
	opUploadPart      = "UploadPart"
	opComplete        = "CompleteMultipartUpload"
	opHeadBucket      = "HeadBucket"
)

// Defaults of Options.
const (
	DefaultMultipartThreshold = 16 << 20
	DefaultPartSize           = 8 << 20
	DefaultConcurrency        = 4
	DefaultTimeout            = 60 * time.Second
	// maxParts is S3's limit of parts per upload.
	maxParts = 10_000
)

// Options tune how objects are uploaded; the zero value means the
// defaults. They are not settings: tests and benchmarks use them.
type Options struct {
	// MultipartThreshold: a body larger than this is uploaded in parts
	// (default 16 MiB).
	MultipartThreshold int
	// PartSize is the size of every part but the last (default 8 MiB; S3
	// requires at least 5 MiB). It grows when a body would need more than
	// 10,000 parts.
	PartSize int
	// Concurrency is the number of parts uploaded at once (default 4).
	Concurrency int
	// Timeout bounds each request: PutObject, each part (default 60s).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MultipartThreshold <= 0 {
		o.MultipartThreshold = DefaultMultipartThreshold
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Kind describes the s3 destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:   "s3",
		Config: func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("s3 destination: config is %T, want *s3.Config", c)
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

// Destination writes every batch as one object. It is safe for concurrent
// use.
type Destination struct {
	client      *awss3.Client
	httpClient  *http.Client
	ownsTranspt bool
	bucket      string
	region      string
	prefix      string
	gzip        bool
	contentType string
	secret      string
	opts        Options
	timeout     time.Duration
	// lastSize is the size of the previous body, to size the next buffer.
	lastSize atomic.Int64
	// now is the clock of the object keys (tests replace it).
	now func() time.Time
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps, o Options) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("s3 destination: invalid settings: %w", errs)
	}
	o = o.withDefaults()
	d := &Destination{
		bucket:      c.BucketName,
		region:      c.region(),
		prefix:      c.prefix(),
		gzip:        c.contentType() == ContentTypeGzip,
		contentType: "text/plain; charset=utf-8",
		secret:      c.SecretKey,
		opts:        o,
		timeout:     o.Timeout,
		now:         time.Now,
	}
	if d.gzip {
		d.contentType = ContentTypeGzip
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
		Transport: rt,
		// A redirect would take a signed request elsewhere; S3 answers
		// a wrong region with 301, reported as an error.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey, Source: "runnel"}
	opts := awss3.Options{
		Region:      d.region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient:  d.httpClient,
		// The deliverer is the only place that retries.
		Retryer: aws.NopRetryer{},
		AppID:   "runnel",
		// Checksums only where S3 requires them: the payload is signed
		// (x-amz-content-sha256), which S3-compatible services verify too,
		// whereas the newer checksum trailers are not understood by all.
		RequestChecksumCalculation:  aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:  aws.ResponseChecksumValidationWhenRequired,
		DisableS3ExpressSessionAuth: aws.Bool(true),
	}
	if c.HostURL != "" {
		opts.BaseEndpoint = aws.String(strings.TrimRight(c.HostURL, "/"))
		opts.UsePathStyle = true
	}
	d.client = awss3.New(opts)
	return d, nil
}

// Deliver frames the batch (gzip-compressed with content_type
// application/gzip) and writes it as one object.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3 %s aborted: %w", opPutObject, err)
	}
	body := d.frame(b)
	key := d.key(d.now())
	if len(body) <= d.opts.MultipartThreshold {
		return d.put(ctx, key, body)
	}
	return d.multipart(ctx, key, body)
}

// frame returns the body of the object for b.
func (d *Destination) frame(b destination.Batch) []byte {
	var framer destination.Framer = lineFramer{}
	if b.Framer != nil {
		framer = b.Framer
	}
	framed := framer.Frame(make([]byte, 0, d.lastSize.Load()+4096), b.Records)
	body := framed
	if d.gzip {
		var buf bytes.Buffer
		buf.Grow(len(framed)/4 + 64)
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		_, _ = zw.Write(framed) // a bytes.Buffer does not fail
		_ = zw.Close()
		body = buf.Bytes()
	}
	d.lastSize.Store(int64(len(framed)))
	return body
}

// key returns <prefix>YYYY/MM/DD/hh/mm/<uuid> for t in UTC.
func (d *Destination) key(t time.Time) string {
	return d.prefix + t.UTC().Format("2006/01/02/15/04/") + newUUID()
}

// put writes body with one PutObject.
func (d *Destination) put(ctx context.Context, key string, body []byte) error {
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.client.PutObject(rctx, &awss3.PutObjectInput{
		Bucket:        &d.bucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   &d.contentType,
	})
	return d.classify(ctx, opPutObject, err)
}

// multipart writes body as a multipart upload, Options.Concurrency parts
// at a time. On failure the upload is aborted, so no parts are left
// behind (and billed) in the bucket.
func (d *Destination) multipart(ctx context.Context, key string, body []byte) error {
	partSize := max(d.opts.PartSize, (len(body)+maxParts-1)/maxParts)
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	out, err := d.client.CreateMultipartUpload(rctx, &awss3.CreateMultipartUploadInput{
		Bucket:      &d.bucket,
		Key:         &key,
		ContentType: &d.contentType,
	})
	cancel()
	if err != nil {
		return d.classify(ctx, opCreateMultipart, err)
	}
	uploadID := out.UploadId
	n := (len(body) + partSize - 1) / partSize
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for i := range n {
		chunk := body[i*partSize : min((i+1)*partSize, len(body))]
		g.Go(func() error {
			pctx, cancel := context.WithTimeout(gctx, d.timeout)
			defer cancel()
			num := int32(i + 1)
			res, err := d.client.UploadPart(pctx, &awss3.UploadPartInput{
				Bucket:        &d.bucket,
				Key:           &key,
				UploadId:      uploadID,
				PartNumber:    &num,
				Body:          bytes.NewReader(chunk),
				ContentLength: aws.Int64(int64(len(chunk))),
			})
			if err != nil {
				return d.classify(gctx, opUploadPart, err)
			}
			parts[i] = types.CompletedPart{ETag: res.ETag, PartNumber: &num}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, d.timeout)
		_, err = d.client.CompleteMultipartUpload(rctx, &awss3.CompleteMultipartUploadInput{
			Bucket:          &d.bucket,
			Key:             &key,
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		cancel()
		if err == nil {
			return nil
		}
		err = d.classify(ctx, opComplete, err)
	}
	d.abort(ctx, key, uploadID)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("s3 %s aborted: %w", opUploadPart, cerr)
	}
	return err
}

// abort abandons a multipart upload, also when ctx is already done; its
// own failure only leaves parts that a lifecycle rule can clean up.
func (d *Destination) abort(ctx context.Context, key string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = d.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
		Bucket:   &d.bucket,
		Key:      &key,
		UploadId: uploadID,
	})
}

// Check sends HeadBucket: it proves the endpoint answers, the credentials
// are valid and the bucket exists (it needs s3:ListBucket on the bucket).
func (d *Destination) Check(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.client.HeadBucket(rctx, &awss3.HeadBucketInput{Bucket: &d.bucket})
	return d.classify(ctx, opHeadBucket, err)
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

package template

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DatasetPlaceholder is the token in a payload format that the joined
// records replace.
const DatasetPlaceholder = "$dataset"

// Default payload options (SPEC §6).
const (
	DefaultFormat        = DatasetPlaceholder
	DefaultLineSeparator = "\n"
)

// Payload frames records into a destination payload: the records joined by
// the line separator replace "$dataset" in the format. It is immutable and
// safe for concurrent use.
type Payload struct {
	prefix, suffix string
	sep            string
	maxSize        int
	asciiOnly      bool
}

// NewPayload validates the payload options. An empty format means
// "$dataset"; otherwise it must contain "$dataset" exactly once. A nil sep
// means "\n" (a non-nil empty separator is allowed). maxSize is in bytes,
// 0 meaning unlimited; it must leave room for at least one byte of record
// after the format. With asciiOnly, the format and separator must be ASCII
// themselves.
func NewPayload(format string, sep *string, maxSize int, asciiOnly bool) (*Payload, error) {
	if format == "" {
		format = DefaultFormat
	}
	if n := strings.Count(format, DatasetPlaceholder); n != 1 {
		return nil, fmt.Errorf("payload: format must contain %q exactly once (found %d)", DatasetPlaceholder, n)
	}
	p := &Payload{sep: DefaultLineSeparator, maxSize: maxSize, asciiOnly: asciiOnly}
	p.prefix, p.suffix, _ = strings.Cut(format, DatasetPlaceholder)
	if sep != nil {
		p.sep = *sep
	}
	switch {
	case maxSize < 0:
		return nil, fmt.Errorf("payload: max_size must not be negative (got %d)", maxSize)
	case maxSize > 0 && maxSize <= p.Overhead():
		return nil, fmt.Errorf("payload: max_size %d leaves no room for records (the format takes %d bytes)", maxSize, p.Overhead())
	}
	if asciiOnly {
		if !isASCII([]byte(format)) {
			return nil, errors.New("payload: ascii_only is set but format contains non-ASCII characters")
		}
		if !isASCII([]byte(p.sep)) {
			return nil, errors.New("payload: ascii_only is set but line_separator contains non-ASCII characters")
		}
	}
	return p, nil
}

// Overhead is the size of the format around the records:
// len(prefix)+len(suffix).
func (p *Payload) Overhead() int { return len(p.prefix) + len(p.suffix) }

// SepLen is the size of the line separator.
func (p *Payload) SepLen() int { return len(p.sep) }

// MaxSize is the payload size limit in bytes; 0 means unlimited.
func (p *Payload) MaxSize() int { return p.maxSize }

// ASCIIOnly reports whether records are escaped to pure ASCII by Encode.
func (p *Payload) ASCIIOnly() bool { return p.asciiOnly }

// Size returns the payload size of n records whose encoded lengths sum to
// recBytes: Overhead() + recBytes + (n-1)*SepLen(). Size(0, 0) is
// Overhead(), the size of Frame with no records.
func (p *Payload) Size(n, recBytes int) int {
	size := p.Overhead() + recBytes
	if n > 1 {
		size += (n - 1) * len(p.sep)
	}
	return size
}

// Fits reports whether a single record of encoded length l can ever fit in
// a payload: Overhead()+l <= MaxSize(), or no max.
func (p *Payload) Fits(l int) bool {
	return p.maxSize == 0 || p.Overhead()+l <= p.maxSize
}

// Encode appends the record to dst as it goes into a payload: with
// ascii_only every non-ASCII character is written as a JSON \uXXXX escape
// (a surrogate pair above U+FFFF; invalid UTF-8 bytes as \ufffd, which is
// what a JSON decoder reads them as), otherwise the record is copied
// unchanged. Records are JSON, where non-ASCII can only occur inside
// strings, so the result decodes to the same value. It does not allocate
// when dst has room.
func (p *Payload) Encode(dst, record []byte) []byte {
	if !p.asciiOnly {
		return append(dst, record...)
	}
	return appendASCII(dst, record)
}

// Frame appends the prefix, the records joined by the separator, and the
// suffix to dst.
func (p *Payload) Frame(dst []byte, records [][]byte) []byte {
	dst = append(dst, p.prefix...)
	for i, r := range records {
		if i > 0 {
			dst = append(dst, p.sep...)
		}
		dst = append(dst, r...)
	}
	return append(dst, p.suffix...)
}

// Split cuts records (already passed through Encode) into consecutive
// groups, in order, each framing to at most MaxSize() bytes. A record that
// alone exceeds MaxSize() is not placed in any group; its index is reported
// in oversize instead, and the records on either side of it go to different
// groups, so every group is a contiguous sub-slice of records (capacity
// clipped: appending to a group never overwrites records). No group is
// empty. With no max, all records form one group.
func (p *Payload) Split(records [][]byte) (groups [][][]byte, oversize []int) {
	start, size := 0, 0 // current group: records[start:i], framed size
	for i, r := range records {
		if !p.Fits(len(r)) {
			if start < i {
				groups = append(groups, records[start:i:i])
			}
			oversize = append(oversize, i)
			start = i + 1
			continue
		}
		if start == i {
			size = p.Overhead() + len(r)
			continue
		}
		if p.maxSize > 0 && size+len(p.sep)+len(r) > p.maxSize {
			groups = append(groups, records[start:i:i])
			start, size = i, p.Overhead()+len(r)
			continue
		}
		size += len(p.sep) + len(r)
	}
	if start < len(records) {
		groups = append(groups, records[start:len(records):len(records)])
	}
	return groups, oversize
}

// isASCII reports whether every byte of b is below 0x80.
func isASCII(b []byte) bool { return asciiPrefix(b) == len(b) }

// asciiPrefix returns the length of the longest all-ASCII prefix of b.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			break
		}
	}
	return i
}

// appendASCII appends src with every non-ASCII UTF-8 sequence replaced by
// its JSON \uXXXX escape (surrogate pairs above U+FFFF) and every byte of
// invalid UTF-8 by \ufffd.
func appendASCII(dst, src []byte) []byte {
	for {
		i := asciiPrefix(src)
		dst = append(dst, src[:i]...)
		if i == len(src) {
			return dst
		}
		r, size := utf8.DecodeRune(src[i:])
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			dst = appendU(appendU(dst, r1), r2)
		} else {
			dst = appendU(dst, r)
		}
		src = src[i+size:]
	}
}

func appendU(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

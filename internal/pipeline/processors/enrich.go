package processors

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxLookupFile bounds a lookup table or GeoIP database read at compile.
const maxLookupFile = 1 << 30

// enrich {lookup: {...}} | {static: {...}, target} | {geoip: {...}}
func buildEnrich(cc *compiler, s *settings) processor {
	s.check("lookup", "static", "geoip", "target")
	n := 0
	for _, k := range []string{"lookup", "static", "geoip"} {
		if s.has(k) {
			n++
		}
	}
	if n != 1 {
		s.fail("", "needs exactly one of lookup, static, geoip")
		return nil
	}
	if s.has("target") && !s.has("static") {
		s.fail("target", "applies only to static (lookup and geoip have their own target)")
	}
	switch {
	case s.has("static"):
		return buildStatic(s)
	case s.has("lookup"):
		return buildLookup(cc, s.sub("lookup"))
	default:
		return buildGeoIP(cc, s.sub("geoip"))
	}
}

// readLookupFile reads a file named relative to dir; the name may not
// leave dir (no "..", no absolute path outside it, no symlink out of it).
func readLookupFile(dir, name string) ([]byte, error) {
	if dir == "" {
		return nil, errors.New("no lookup directory is configured on this server")
	}
	rel := name
	if filepath.IsAbs(name) {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		r, err := filepath.Rel(absDir, filepath.Clean(name))
		if err != nil || !filepath.IsLocal(r) {
			return nil, fmt.Errorf("%q is outside the lookup directory", name)
		}
		rel = r
	} else if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("%q leaves the lookup directory (use a path relative to it, without ..)", name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("lookup directory: %w", err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if st.Size() > maxLookupFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxLookupFile)
	}
	return io.ReadAll(f)
}

// --- static ---

type staticProc struct {
	fields *object
	target path
	hasTgt bool
}

func buildStatic(s *settings) processor {
	raw := s.m["static"]
	var a arena
	v, err := decodeJSON(string(raw), &a)
	if err != nil || v.kind != kObject {
		s.fail("static", "must be an object of fields to add")
		return nil
	}
	if len(v.obj().m) == 0 {
		s.fail("static", "must not be empty")
		return nil
	}
	p := &staticProc{fields: v.clone().obj()}
	if s.has("target") {
		p.target, p.hasTgt = s.pathSetting("target", true)
	}
	return p
}

func (p *staticProc) apply(st *state) (outcome, error) {
	st.modified = true
	dst := st.root
	if p.hasTgt {
		t := lookup(st.root, p.target)
		switch {
		case t == nil || t.kind == kNull:
			return pass, setPath(st.root, p.target, objValue(p.fields).clone())
		case t.kind != kObject:
			return pass, fmt.Errorf("cannot merge into %s: it is %s", p.target, t.kind)
		}
		dst = t.obj()
	}
	for _, m := range p.fields.m {
		dst.set(m.key, m.val.clone())
	}
	return pass, nil
}

// --- lookup ---

type lookupProc struct {
	key    path
	target path
	rows   map[string]*object
}

func buildLookup(cc *compiler, s *settings) processor {
	if s == nil {
		return nil
	}
	s.check("file", "key", "target", "key_column")
	p := &lookupProc{}
	p.key, _ = s.pathSetting("key", true)
	p.target, _ = s.pathSetting("target", true)
	keyCol, _ := s.str("key_column", false)
	file, ok := s.str("file", true)
	if !ok {
		return p
	}
	data, err := readLookupFile(cc.opts.LookupDir, file)
	if err != nil {
		s.fail("file", "%v", err)
		return p
	}
	rows, err := loadLookupCSV(data, keyCol)
	if err != nil {
		if errors.Is(err, errNoKeyColumn) {
			s.fail("key_column", "%v", err)
		} else {
			s.fail("file", "%s: %v", file, err)
		}
		return p
	}
	p.rows = rows
	return p
}

var errNoKeyColumn = errors.New("no such column in the header")

// loadLookupCSV reads a CSV table with a header; each row becomes an
// object of header → value, keyed by the key column (the first unless
// keyCol names another).
func loadLookupCSV(data []byte, keyCol string) (map[string]*object, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("empty file (a header row is required)")
	}
	if err != nil {
		return nil, err
	}
	keyIdx := 0
	seen := map[string]bool{}
	for i, h := range header {
		if h == "" {
			return nil, fmt.Errorf("header column %d is empty", i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("header column %q repeats", h)
		}
		seen[h] = true
	}
	if keyCol != "" {
		keyIdx = -1
		for i, h := range header {
			if h == keyCol {
				keyIdx = i
			}
		}
		if keyIdx < 0 {
			return nil, fmt.Errorf("%q: %w", keyCol, errNoKeyColumn)
		}
	}
	rows := map[string]*object{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		k := rec[keyIdx]
		if _, dup := rows[k]; dup {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("line %d: key %q repeats", line, k)
		}
		o := &object{m: make([]member, len(header))}
		for i, h := range header {
			o.m[i] = member{key: h, val: strValue(rec[i])}
		}
		rows[k] = o
	}
	return rows, nil
}

func (p *lookupProc) apply(st *state) (outcome, error) {
	v := lookup(st.root, p.key)
	if v == nil || v.kind == kNull || v.kind == kObject || v.kind == kArray {
		return pass, nil
	}
	row, ok := p.rows[v.text()]
	if !ok {
		return pass, nil
	}
	st.modified = true
	return pass, setPath(st.root, p.target, objValue(row).clone())
}

// --- geoip ---

type geoipProc struct {
	field  path
	target path
	db     *maxminddb.Reader
}

// geoRecord is what enrich geoip reads from a City, Country or ASN
// database; absent parts stay zero and are left out of the output.
type geoRecord struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
		TimeZone  string   `maxminddb:"time_zone"`
	} `maxminddb:"location"`
	ASN   uint32 `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

func buildGeoIP(cc *compiler, s *settings) processor {
	if s == nil {
		return nil
	}
	s.check("field", "target", "database")
	p := &geoipProc{}
	p.field, _ = s.pathSetting("field", true)
	p.target, _ = s.pathSetting("target", true)
	file, ok := s.str("database", true)
	if !ok {
		return p
	}
	data, err := readLookupFile(cc.opts.LookupDir, file)
	if err != nil {
		s.fail("database", "%v", err)
		return p
	}
	db, err := maxminddb.OpenBytes(data)
	if err != nil {
		s.fail("database", "%s is not a MaxMind DB: %v", file, err)
		return p
	}
	p.db = db
	return p
}

// apply adds {country_iso_code, country_name, city, location: {lat, lon},
// time_zone, asn, as_org} (whatever the database has) at target. A
// missing field, a value that is not an IP address, and an address the
// database does not know leave the event unchanged.
func (p *geoipProc) apply(st *state) (outcome, error) {
	v := lookup(st.root, p.field)
	if v == nil || v.kind != kString {
		return pass, nil
	}
	addr, err := netip.ParseAddr(v.s)
	if err != nil {
		return pass, nil
	}
	res := p.db.Lookup(addr.Unmap())
	if !res.Found() {
		return pass, nil
	}
	var rec geoRecord
	if err := res.Decode(&rec); err != nil {
		return pass, fmt.Errorf("geoip: %w", err)
	}
	o := &object{}
	if rec.Country.ISOCode != "" {
		o.set("country_iso_code", strValue(rec.Country.ISOCode))
	}
	if n := rec.Country.Names["en"]; n != "" {
		o.set("country_name", strValue(n))
	}
	if n := rec.City.Names["en"]; n != "" {
		o.set("city", strValue(n))
	}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		loc := &object{m: []member{
			{key: "lat", val: numValue(formatFloat(*rec.Location.Latitude))},
			{key: "lon", val: numValue(formatFloat(*rec.Location.Longitude))},
		}}
		o.set("location", objValue(loc))
	}
	if rec.Location.TimeZone != "" {
		o.set("time_zone", strValue(rec.Location.TimeZone))
	}
	if rec.ASN != 0 {
		o.set("asn", intValue(int64(rec.ASN)))
	}
	if rec.ASOrg != "" {
		o.set("as_org", strValue(rec.ASOrg))
	}
	if len(o.m) == 0 {
		return pass, nil
	}
	st.modified = true
	return pass, setPath(st.root, p.target, objValue(o))
}

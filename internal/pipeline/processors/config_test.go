package processors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrors covers every configuration error with its exact path.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "skus.csv", "sku,name,price\nA-1,Widget,12\n")
	writeFile(t, dir, "dup.csv", "sku,name\nA-1,x\nA-1,y\n")
	writeFile(t, dir, "empty.csv", "")
	writeFile(t, dir, "badhdr.csv", "sku,sku\n")
	writeFile(t, dir, "notmmdb.mmdb", "hello")
	outside := t.TempDir()
	writeFile(t, outside, "secret.csv", "k,v\n")
	opts := Options{LookupDir: dir}

	cases := []struct {
		name  string
		procs string
		opts  *Options
		want  map[string]string
	}{
		// the list itself
		{"not a list", `{'parse':{}}`, nil, map[string]string{"processors": "must be a list"}},
		{"entry not an object", `[1]`, nil, map[string]string{"processors[0]": "exactly one key"}},
		{"entry empty", `[{}]`, nil, map[string]string{"processors[0]": "exactly one key"}},
		{"entry two keys", `[{'set':{'field':'a','value':1},'remove':{'fields':['b']}}]`, nil, map[string]string{"processors[0]": "exactly one key"}},
		{"unknown processor", `[{'set':{'field':'a','value':1}},{'explode':{}}]`, nil, map[string]string{"processors[1]": `unknown processor "explode"`}},
		{"settings not an object", `[{'set':5}]`, nil, map[string]string{"processors[0].set": "must be an object"}},
		{"unknown setting", `[{'set':{'field':'a','value':1,'bogus':true}}]`, nil, map[string]string{"processors[0].set.bogus": "unknown setting"}},
		{"setting twice", `[{'set':{'field':'a','field':'b','value':1}}]`, nil, map[string]string{"processors[0].set": "given twice"}},

		// parse
		{"parse no field", `[{'parse':{'format':'json'}}]`, nil, map[string]string{"processors[0].parse.field": "required"}},
		{"parse field not string", `[{'parse':{'field':5,'format':'json'}}]`, nil, map[string]string{"processors[0].parse.field": "must be a string"}},
		{"parse field bad path", `[{'parse':{'field':'a..b','format':'json'}}]`, nil, map[string]string{"processors[0].parse.field": "empty segment"}},
		{"parse no format", `[{'parse':{'field':'a'}}]`, nil, map[string]string{"processors[0].parse.format": "required"}},
		{"parse bad format", `[{'parse':{'field':'a','format':'xml'}}]`, nil, map[string]string{"processors[0].parse.format": "must be one of json, kv, regex, csv, nginx"}},
		{"parse bad target", `[{'parse':{'field':'a','format':'json','target':'x.'}}]`, nil, map[string]string{"processors[0].parse.target": "empty segment"}},
		{"parse bad on_error", `[{'parse':{'field':'a','format':'json','on_error':'ignore'}}]`, nil, map[string]string{"processors[0].parse.on_error": "must be one of fail, skip"}},
		{"regex no pattern", `[{'parse':{'field':'a','format':'regex'}}]`, nil, map[string]string{"processors[0].parse.pattern": "required"}},
		{"regex invalid", `[{'parse':{'field':'a','format':'regex','pattern':'(?P<x>[a-'}}]`, nil, map[string]string{"processors[0].parse.pattern": "error parsing regexp"}},
		{"regex no named group", `[{'parse':{'field':'a','format':'regex','pattern':'(\\d+)'}}]`, nil, map[string]string{"processors[0].parse.pattern": "named group"}},
		{"pattern with kv", `[{'parse':{'field':'a','format':'kv','pattern':'x'}}]`, nil, map[string]string{"processors[0].parse.pattern": "applies only to format regex"}},
		{"columns with json", `[{'parse':{'field':'a','format':'json','columns':['a']}}]`, nil, map[string]string{"processors[0].parse.columns": "applies only to format csv"}},
		{"log_format with csv", `[{'parse':{'field':'a','format':'csv','columns':['a'],'log_format':'combined'}}]`, nil, map[string]string{"processors[0].parse.log_format": "applies only to format nginx"}},
		{"separator with csv", `[{'parse':{'field':'a','format':'csv','columns':['a'],'separator':';'}}]`, nil, map[string]string{"processors[0].parse.separator": "applies only to format kv"}},
		{"csv no columns", `[{'parse':{'field':'a','format':'csv'}}]`, nil, map[string]string{"processors[0].parse.columns": "required"}},
		{"csv columns empty list", `[{'parse':{'field':'a','format':'csv','columns':[]}}]`, nil, map[string]string{"processors[0].parse.columns": "must not be empty"}},
		{"csv column not string", `[{'parse':{'field':'a','format':'csv','columns':['a',2]}}]`, nil, map[string]string{"processors[0].parse.columns[1]": "must be a string"}},
		{"csv column repeats", `[{'parse':{'field':'a','format':'csv','columns':['a','b','a']}}]`, nil, map[string]string{"processors[0].parse.columns[2]": `"a" repeats columns[0]`}},
		{"csv column empty", `[{'parse':{'field':'a','format':'csv','columns':['','b']}}]`, nil, map[string]string{"processors[0].parse.columns[0]": "empty column name"}},
		{"csv bad delimiter", `[{'parse':{'field':'a','format':'csv','columns':['a'],'delimiter':';;'}}]`, nil, map[string]string{"processors[0].parse.delimiter": "one ASCII character"}},
		{"kv empty separator", `[{'parse':{'field':'a','format':'kv','separator':''}}]`, nil, map[string]string{"processors[0].parse.separator": "must not be empty"}},
		{"kv empty delimiter", `[{'parse':{'field':'a','format':'kv','delimiter':''}}]`, nil, map[string]string{"processors[0].parse.delimiter": "must not be empty"}},
		{"kv same separator and delimiter", `[{'parse':{'field':'a','format':'kv','separator':'=','delimiter':'='}}]`, nil, map[string]string{"processors[0].parse.delimiter": "must differ from separator"}},
		{"kv quote delimiter", `[{'parse':{'field':'a','format':'kv','delimiter':'\u0027'}}]`, nil, map[string]string{"processors[0].parse.delimiter": "quotes"}},
		{"nginx no variables", `[{'parse':{'field':'a','format':'nginx','log_format':'just text'}}]`, nil, map[string]string{"processors[0].parse.log_format": "no variables"}},
		{"nginx adjacent variables", `[{'parse':{'field':'a','format':'nginx','log_format':'$remote_addr$status'}}]`, nil, map[string]string{"processors[0].parse.log_format": "not separated"}},
		{"nginx variable twice", `[{'parse':{'field':'a','format':'nginx','log_format':'$status $status'}}]`, nil, map[string]string{"processors[0].parse.log_format": "appears twice"}},
		{"nginx unterminated brace", `[{'parse':{'field':'a','format':'nginx','log_format':'${status'}}]`, nil, map[string]string{"processors[0].parse.log_format": "unterminated"}},

		// set
		{"set no field", `[{'set':{'value':1}}]`, nil, map[string]string{"processors[0].set.field": "required"}},
		{"set neither", `[{'set':{'field':'a'}}]`, nil, map[string]string{"processors[0].set": "needs value or expr"}},
		{"set both", `[{'set':{'field':'a','value':1,'expr':'1'}}]`, nil, map[string]string{"processors[0].set.expr": "not both"}},
		{"set expr syntax", `[{'set':{'field':'a','expr':'event.x +'}}]`, nil, map[string]string{"processors[0].set.expr": "Syntax error"}},
		{"set expr undeclared", `[{'set':{'field':'a','expr':'nosuch + 1'}}]`, nil, map[string]string{"processors[0].set.expr": "undeclared reference to 'nosuch'"}},
		{"set expr empty", `[{'set':{'field':'a','expr':' '}}]`, nil, map[string]string{"processors[0].set.expr": "empty expression"}},
		{"set expr too long", fmt.Sprintf(`[{'set':{'field':'a','expr':'%s'}}]`, strings.Repeat("1+", 3000)+"1"), nil, map[string]string{"processors[0].set.expr": "longer than"}},

		// rename / remove / keep
		{"rename no from", `[{'rename':{'to':'b'}}]`, nil, map[string]string{"processors[0].rename.from": "required"}},
		{"rename no to", `[{'rename':{'from':'a'}}]`, nil, map[string]string{"processors[0].rename.to": "required"}},
		{"rename same", `[{'rename':{'from':'a.b','to':'a.b'}}]`, nil, map[string]string{"processors[0].rename.to": "same as from"}},
		{"remove no fields", `[{'remove':{}}]`, nil, map[string]string{"processors[0].remove.fields": "required"}},
		{"remove empty fields", `[{'remove':{'fields':[]}}]`, nil, map[string]string{"processors[0].remove.fields": "must not be empty"}},
		{"remove bad field", `[{'remove':{'fields':['ok','a\\']}}]`, nil, map[string]string{"processors[0].remove.fields[1]": "trailing backslash"}},
		{"remove field not string", `[{'remove':{'fields':'x'}},{'remove':{'fields':{}}}]`, nil, map[string]string{"processors[1].remove.fields": "must be a list of strings"}},
		{"keep bad field", `[{'keep':{'fields':['a','.b']}}]`, nil, map[string]string{"processors[0].keep.fields[1]": "empty segment"}},

		// enrich
		{"enrich nothing", `[{'enrich':{}}]`, &opts, map[string]string{"processors[0].enrich": "exactly one of lookup, static, geoip"}},
		{"enrich two", `[{'enrich':{'static':{'a':1},'geoip':{}}}]`, &opts, map[string]string{"processors[0].enrich": "exactly one of"}},
		{"enrich target with lookup", `[{'enrich':{'lookup':{'file':'skus.csv','key':'k','target':'t'},'target':'x'}}]`, &opts, map[string]string{"processors[0].enrich.target": "applies only to static"}},
		{"static not object", `[{'enrich':{'static':[1]}}]`, nil, map[string]string{"processors[0].enrich.static": "must be an object"}},
		{"static empty", `[{'enrich':{'static':{}}}]`, nil, map[string]string{"processors[0].enrich.static": "must not be empty"}},
		{"static bad target", `[{'enrich':{'static':{'a':1},'target':'a..'}}]`, nil, map[string]string{"processors[0].enrich.target": "empty segment"}},
		{"lookup not object", `[{'enrich':{'lookup':'skus.csv'}}]`, &opts, map[string]string{"processors[0].enrich.lookup": "must be an object"}},
		{"lookup missing settings", `[{'enrich':{'lookup':{}}}]`, &opts, map[string]string{
			"processors[0].enrich.lookup.file": "required", "processors[0].enrich.lookup.key": "required", "processors[0].enrich.lookup.target": "required"}},
		{"lookup unknown setting", `[{'enrich':{'lookup':{'file':'skus.csv','key':'k','target':'t','path':'x'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.path": "unknown setting"}},
		{"lookup no dir", `[{'enrich':{'lookup':{'file':'skus.csv','key':'k','target':'t'}}}]`, nil, map[string]string{"processors[0].enrich.lookup.file": "no lookup directory"}},
		{"lookup dotdot", `[{'enrich':{'lookup':{'file':'../x/skus.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": "leaves the lookup directory"}},
		{"lookup dotdot inside", `[{'enrich':{'lookup':{'file':'a/../../skus.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": "leaves the lookup directory"}},
		{"lookup absolute outside", fmt.Sprintf(`[{'enrich':{'lookup':{'file':'%s','key':'k','target':'t'}}}]`, filepath.Join(outside, "secret.csv")), &opts, map[string]string{"processors[0].enrich.lookup.file": "outside the lookup directory"}},
		{"lookup missing file", `[{'enrich':{'lookup':{'file':'nope.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": "no such file"}},
		{"lookup duplicate key", `[{'enrich':{'lookup':{'file':'dup.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": `line 3: key "A-1" repeats`}},
		{"lookup empty file", `[{'enrich':{'lookup':{'file':'empty.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": "header row is required"}},
		{"lookup header repeats", `[{'enrich':{'lookup':{'file':'badhdr.csv','key':'k','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.file": `header column "sku" repeats`}},
		{"lookup bad key_column", `[{'enrich':{'lookup':{'file':'skus.csv','key':'k','target':'t','key_column':'id'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.key_column": `"id": no such column`}},
		{"lookup bad key path", `[{'enrich':{'lookup':{'file':'skus.csv','key':'k.','target':'t'}}}]`, &opts, map[string]string{"processors[0].enrich.lookup.key": "empty segment"}},
		{"geoip missing settings", `[{'enrich':{'geoip':{}}}]`, &opts, map[string]string{
			"processors[0].enrich.geoip.field": "required", "processors[0].enrich.geoip.target": "required", "processors[0].enrich.geoip.database": "required"}},
		{"geoip not a db", `[{'enrich':{'geoip':{'field':'ip','target':'geo','database':'notmmdb.mmdb'}}}]`, &opts, map[string]string{"processors[0].enrich.geoip.database": "not a MaxMind DB"}},
		{"geoip escapes", `[{'enrich':{'geoip':{'field':'ip','target':'geo','database':'/etc/passwd'}}}]`, &opts, map[string]string{"processors[0].enrich.geoip.database": "outside the lookup directory"}},

		// mask
		{"mask nothing", `[{'mask':{'method':'redact'}}]`, nil, map[string]string{"processors[0].mask": "needs fields, detectors or patterns"}},
		{"mask bad method", `[{'mask':{'fields':['a'],'method':'shred'}}]`, nil, map[string]string{"processors[0].mask.method": "must be one of redact, hash, partial"}},
		{"mask method not string", `[{'mask':{'fields':['a'],'method':1}}]`, nil, map[string]string{"processors[0].mask.method": "must be a string"}},
		{"mask unknown detector", `[{'mask':{'detectors':['email','ssn']}}]`, nil, map[string]string{"processors[0].mask.detectors[1]": `unknown detector "ssn"`}},
		{"mask empty detectors", `[{'mask':{'detectors':[]}}]`, nil, map[string]string{"processors[0].mask.detectors": "must not be empty"}},
		{"mask bad pattern", `[{'mask':{'patterns':['ok','(']}}]`, nil, map[string]string{"processors[0].mask.patterns[1]": "missing closing )"}},
		{"mask empty-matching pattern", `[{'mask':{'patterns':['a*']}}]`, nil, map[string]string{"processors[0].mask.patterns[0]": "matches the empty string"}},
		{"mask bad field", `[{'mask':{'fields':['a..b']}}]`, nil, map[string]string{"processors[0].mask.fields[0]": "empty segment"}},

		// filter
		{"filter no if", `[{'filter':{}}]`, nil, map[string]string{"processors[0].filter.if": "required"}},
		{"filter syntax", `[{'filter':{'if':'event.status =='}}]`, nil, map[string]string{"processors[0].filter.if": "Syntax error"}},
		{"filter not bool", `[{'filter':{'if':'1 + 2'}}]`, nil, map[string]string{"processors[0].filter.if": "must be true or false, it gives int"}},
		{"filter undeclared", `[{'filter':{'if':'status >= 500'}}]`, nil, map[string]string{"processors[0].filter.if": "undeclared reference to 'status'"}},
		{"filter unknown function", `[{'filter':{'if':'frobnicate(event)'}}]`, nil, map[string]string{"processors[0].filter.if": "undeclared reference to 'frobnicate'"}},

		// sample
		{"sample no percent", `[{'sample':{}}]`, nil, map[string]string{"processors[0].sample.percent": "required"}},
		{"sample percent string", `[{'sample':{'percent':'10'}}]`, nil, map[string]string{"processors[0].sample.percent": "must be a number"}},
		{"sample percent negative", `[{'sample':{'percent':-1}}]`, nil, map[string]string{"processors[0].sample.percent": "between 0 and 100"}},
		{"sample percent too big", `[{'sample':{'percent':100.5}}]`, nil, map[string]string{"processors[0].sample.percent": "between 0 and 100"}},
		{"sample percent precision", `[{'sample':{'percent':12.345}}]`, nil, map[string]string{"processors[0].sample.percent": "two decimals"}},
		{"sample bad key", `[{'sample':{'percent':10,'key':''}}]`, nil, map[string]string{"processors[0].sample.key": "must not be empty"}},

		// several at once, in several processors
		{"many", `[{'set':{'field':'a'}},{'filter':{'if':'('}},{'sample':{'percent':200}}]`, nil, map[string]string{
			"processors[0].set": "needs value or expr", "processors[1].filter.if": "Syntax error", "processors[2].sample.percent": "between 0 and 100"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{}
			if c.opts != nil {
				o = *c.opts
			}
			wantErrs(t, c.procs, o, c.want)
		})
	}
}

func TestTooManyProcessors(t *testing.T) {
	procs := "[" + strings.Repeat(`{"remove":{"fields":["a"]}},`, MaxProcessors) + `{"remove":{"fields":["a"]}}]`
	_, errs := Compile([]byte(procs), Options{})
	if len(errs) != 1 || errs[0].Path != "processors" || !strings.Contains(errs[0].Message, "at most") {
		t.Fatalf("errs = %v", errs)
	}
}

// TestCELMessage checks that an expression error carries CEL's own message,
// with the position marker, at the setting's path.
func TestCELMessage(t *testing.T) {
	_, errs := Compile(js(`[{'filter':{'if':'event.status == \'x\' &&'}}]`), Options{})
	if len(errs) != 1 || errs[0].Path != "processors[0].filter.if" {
		t.Fatalf("errs = %v", errs)
	}
	msg := errs[0].Message
	for _, want := range []string{"ERROR: <input>:1:", "Syntax error", `| event.status == "x" &&`, "^"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestEmptyChain(t *testing.T) {
	for _, raw := range []string{``, `null`, `[]`, ` [ ] `} {
		c, errs := Compile([]byte(raw), Options{})
		if errs != nil {
			t.Fatalf("%q: %v", raw, errs)
		}
		out, res, err := c.ApplyJSON(t.Context(), nil, []byte(`{"a":1}`))
		if err != nil || res.Action != Keep || string(out) != `{"a":1}` || c.Len() != 0 {
			t.Errorf("%q: %s %+v %v", raw, out, res, err)
		}
	}
	var nilChain *Chain
	if out, res, err := nilChain.ApplyJSON(t.Context(), nil, []byte(`{}`)); err != nil || res.Action != Keep || string(out) != `{}` {
		t.Errorf("nil chain: %s %+v %v", out, res, err)
	}
	if nilChain.Stats() != nil || nilChain.Len() != 0 {
		t.Error("nil chain stats")
	}
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// DefaultFile is the config file Load reads when LoadOptions.File is empty
// and the file exists in the working directory.
const DefaultFile = "sessionmon.toml"

// maxFileErrors is how many problems in a config file are reported: enough
// for a file with typos, not a screenful for the wrong file.
const maxFileErrors = 20

// LoadOptions says where Load reads settings from.
type LoadOptions struct {
	// File is the TOML config file. Empty means DefaultFile when it
	// exists, else no file.
	File string
	// Env looks up an environment variable; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Flags holds the values given on the command line: Key.Name to text,
	// for the flags the user set.
	Flags map[string]string
}

// Load returns the defaults overridden by the config file, then the
// environment (SESSIONMON_*), then flags, and validated. Every refused
// value is reported, each naming its key, value, source and what is allowed.
func Load(opts LoadOptions) (Config, error) {
	path := opts.File
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
	} else if b, err := os.ReadFile(DefaultFile); err == nil {
		path, data = DefaultFile, b
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("read config file: %w", err)
	}
	env := opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	return load(path, data, env, opts.Flags)
}

// load is Load after the file is read; path is "" for no file.
func load(path string, data []byte, env func(string) (string, bool), flags map[string]string) (Config, error) {
	c := Default()
	from := make(map[string]string) // key -> where its value came from, for cross-checks
	var errs []error
	if path != "" {
		errs = loadFile(&c, path, data, from)
	}
	setRaw := func(f *field, v, source string) {
		if f.set(&c, raw(v)) {
			from[f.Name] = source
		} else {
			errs = append(errs, f.refuse(raw(v), source))
		}
	}
	for i := range fields {
		if v, ok := env(fields[i].Env); ok {
			setRaw(&fields[i], v, fields[i].Env)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		f, ok := byName[name]
		if !ok {
			errs = append(errs, unknownKey(name, "on the command line"))
			continue
		}
		setRaw(f, flags[name], "the command line")
	}
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	if err := c.crossCheck(from); err != nil {
		return Config{}, err
	}
	return c, nil
}

// loadFile sets c from the TOML document data read from path, recording
// in from where each key was set, and returns every problem found.
func loadFile(c *Config, path string, data []byte, from map[string]string) []error {
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)}
		}
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	at := func(k toml.Key) string {
		if line := lineOf(string(data), k); line > 0 {
			return path + ":" + strconv.Itoa(line)
		}
		return path
	}
	var errs []error
	var done []string // keys whose sub-keys are not looked at
	for _, k := range md.Keys() {
		if len(errs) == maxFileErrors {
			errs = append(errs, fmt.Errorf("%s: more problems not shown", path))
			break
		}
		name := k.String()
		if slices.ContainsFunc(done, func(d string) bool { return strings.HasPrefix(name, d+".") }) {
			continue
		}
		if f, ok := byName[name]; ok {
			done = append(done, name)
			v := lookup(doc, k)
			if f.set(c, v) {
				from[name] = at(k)
			} else {
				errs = append(errs, f.refuse(v, at(k)))
			}
			continue
		}
		if len(k) == 1 && isTable(name) {
			if md.Type(k...) != "Hash" {
				done = append(done, name)
				errs = append(errs, fmt.Errorf("%s: %s in %s: want a table, [%s]", name, show(lookup(doc, k), false), at(k), name))
			}
			continue
		}
		done = append(done, name)
		errs = append(errs, unknownKey(name, "in "+at(k)))
	}
	return errs
}

// refuse is the error for value v of f from source ("" when unknown).
func (f field) refuse(v any, source string) error {
	if source != "" {
		source = " from " + source
	}
	return fmt.Errorf("%s: %s%s: want %s", f.Name, show(v, f.hidden), source, f.want)
}

// show renders a value for an error message: strings quoted (and DSN
// passwords hidden when secret), long ones shortened.
func show(v any, secret bool) string {
	switch v := v.(type) {
	case raw:
		return show(string(v), secret)
	case string:
		if secret {
			v = redactDSN(v)
		}
		if utf8.RuneCountInString(v) > 80 {
			v = string([]rune(v)[:80]) + "..."
		}
		return strconv.Quote(v)
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}

func isTable(name string) bool {
	return slices.ContainsFunc(tables, func(t struct{ name, doc string }) bool { return t.name == name })
}

// lookup returns the value at key k of a decoded document, or nil.
func lookup(doc map[string]any, k toml.Key) any {
	var v any = doc
	for _, p := range k {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// lineOf returns the line of the TOML document text that sets key k, or 0.
// The toml package keeps key positions to itself but reports them in a
// ParseError, so decode into a type that has only k, whose value refuses
// to be decoded.
func lineOf(text string, k toml.Key) int {
	t := reflect.TypeFor[refuseDecode]()
	for i := len(k) - 1; i >= 0; i-- {
		t = reflect.StructOf([]reflect.StructField{{
			Name: "F",
			Type: t,
			Tag:  reflect.StructTag("toml:" + strconv.Quote(k[i])),
		}})
	}
	_, err := toml.Decode(text, reflect.New(t).Interface())
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line
	}
	return 0
}

type refuseDecode struct{}

func (refuseDecode) UnmarshalTOML(any) error { return errors.New("found") }

// unknownKey is the error for a key that is not in the registry, with the
// closest known key when there is one.
func unknownKey(name, where string) error {
	msg := fmt.Sprintf("%s: unknown key %s", name, where)
	if s := suggest(name); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return errors.New(msg)
}

// suggest returns the known key or table closest to an unknown name, or "".
func suggest(name string) string {
	best, bestDist := "", 3 // suggest only within 2 edits
	try := func(known string) {
		if d := distance(strings.ToLower(name), known); d < bestDist {
			best, bestDist = known, d
		}
	}
	for _, f := range fields {
		try(f.Name)
	}
	for _, t := range tables {
		try(t.name)
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package django

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	os.WriteFile(file, []byte("\n  new-key  \nold-key\n\n"), 0o600)
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	fx := loadFixtures(t)
	d, _ := Decode(fx.Rotated.SessionData)

	k, err := LoadKeys(file, env(nil))
	if err != nil || len(k.secrets) != 2 || string(k.secrets[0]) != "new-key" || string(k.secrets[1]) != "old-key" {
		t.Fatalf("from a file: %v, %v", k, err)
	}
	k, err = LoadKeys("", env(map[string]string{EnvSecretKey: "x", EnvSecretKeyFallbacks: "y\nold-rotated-key\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := k.Verify(d); err != nil || v.KeyIndex != 2 {
		t.Errorf("fallback from the environment: %+v, %v", v, err)
	}
	if k, err := LoadKeys("", env(nil)); err != nil || k.Usable() {
		t.Errorf("no secret: %v, %v", k, err)
	}
	os.WriteFile(file, []byte("\n\n"), 0o600)
	if _, err := LoadKeys(file, env(nil)); err == nil {
		t.Error("an empty key file was accepted")
	}
	os.WriteFile(file, []byte("s3cr3t-value"), 0o000)
	if _, err := LoadKeys(filepath.Join(dir, "missing"), env(nil)); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadKeys("", env(map[string]string{EnvSecretKey: "a\nb"})); err == nil || strings.Contains(err.Error(), "a\nb") {
		t.Errorf("two keys in %s: %v", EnvSecretKey, err)
	}
}

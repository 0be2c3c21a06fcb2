package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The campus examples in examples/campus are valid configurations.
func TestCampusExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/campus/*.json")
	if len(files) < 2 {
		t.Fatalf("campus examples missing: %v", files)
	}
	// The examples read the sync key from /etc/xlatgw/sync.key; here it
	// comes from a file made as docs/xlatgw.md says.
	dir := t.TempDir()
	key := filepath.Join(dir, "sync.key")
	if err := os.WriteFile(key, []byte("5ca1ab1e0ddba11c0ffee00d15ea5e5a5ca1ab1e0ddba11c0ffee00d15ea5e5a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"key-file": "/etc/xlatgw/sync.key"`) || strings.Contains(string(b), `"key":`) {
			t.Errorf("%s: the example should read its sync key from /etc/xlatgw/sync.key, not hold one", f)
		}
		f = filepath.Join(dir, filepath.Base(f))
		os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "/etc/xlatgw/sync.key", key)), 0o644)
		l, err := loadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if n := len(l.setup.Instances()); n != 3 || len(l.cfg.Rules) != 2 {
			t.Errorf("%s: %d instances, %d rules", f, n, len(l.cfg.Rules))
		}
		synced := 0
		for _, in := range l.cfg.Instances {
			if in.Sync != nil {
				synced++
			}
		}
		if synced != 2 {
			t.Errorf("%s: %d nat64 instances synchronised, want both", f, synced)
		}
	}
}

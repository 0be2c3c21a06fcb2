package main

import (
	"path/filepath"
	"testing"
)

// The campus examples in examples/campus are valid configurations.
func TestCampusExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/campus/*.json")
	if len(files) < 2 {
		t.Fatalf("campus examples missing: %v", files)
	}
	for _, f := range files {
		l, err := loadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(l.insts) != 3 || len(l.cfg.Rules) != 2 {
			t.Errorf("%s: %d instances, %d rules", f, len(l.insts), len(l.cfg.Rules))
		}
		synced := 0
		for _, in := range l.insts {
			if in.syncSetup != nil {
				synced++
			}
		}
		if synced != 2 {
			t.Errorf("%s: %d nat64 instances synchronised, want both", f, synced)
		}
	}
}

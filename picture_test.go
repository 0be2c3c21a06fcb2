package xlat

import (
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's table of packages and their imports says what the code
// imports: each row's list is exactly the module's non-internal packages
// the row's package imports (test files aside), and every library
// package and command has a row.
func TestREADMEImportTable(t *testing.T) {
	const module = "github.com/v6xlat/xlat"
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "package     imports")
	if !ok {
		t.Fatal("README.md has no import table (a line starting \"package     imports\")")
	}
	table, _, _ = strings.Cut(table, "```")
	pkgs := modulePackages(t)
	// A row is a package, its imports, and a description; a line that
	// begins with spaces continues the row above, imports first.
	rows := map[string][]string{}
	last := ""
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(line, " ") {
			f = append([]string{last}, f...)
		} else if !slices.Contains(pkgs, f[0]) {
			continue
		}
		last = f[0]
		imports := rows[last]
		for _, w := range f[1:] {
			if w == "—" || !slices.Contains(pkgs, w) {
				break // none, or the description begins
			}
			imports = append(imports, w)
		}
		rows[last] = imports
	}
	for _, p := range pkgs {
		bp, err := build.ImportDir(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, imp := range bp.Imports {
			rel, ok := strings.CutPrefix(imp, module+"/")
			if ok && !testHelpers[rel] {
				want = append(want, rel)
			}
		}
		slices.Sort(want)
		got, ok := rows[p]
		slices.Sort(got)
		switch {
		case !ok:
			t.Errorf("README's import table has no row for %s (it imports %v)", p, want)
		case !slices.Equal(got, want):
			t.Errorf("README says %s imports %v; it imports %v", p, got, want)
		}
	}
}

// testHelpers are the internal packages only tests import; the import
// table leaves them out.
var testHelpers = map[string]bool{
	"internal/netnstest": true, "internal/testpkt": true, "internal/fixture": true, "internal/graybox": true,
	"handoff/internal/handofftest": true, "handoff/internal/vectors": true,
}

// modulePackages lists the directories of the module's packages and
// commands: every directory with Go files, except the test helpers,
// examples, test data and nested modules.
func modulePackages(t *testing.T) []string {
	var pkgs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch name := d.Name(); {
		case name == "examples" || name == "testdata" || path != "." && strings.HasPrefix(name, "."):
			return filepath.SkipDir
		case path == ".":
			return nil
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
			return filepath.SkipDir // a module of its own (internal/oracle)
		}
		if testHelpers[filepath.ToSlash(path)] {
			return nil
		}
		if bp, err := build.ImportDir(path, 0); err == nil {
			for _, imp := range bp.Imports {
				if testHelpers[strings.TrimPrefix(imp, "github.com/v6xlat/xlat/")] {
					t.Errorf("%s imports %s, a test helper", path, imp)
				}
			}
			pkgs = append(pkgs, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// The README's table of what each binary adds to the standard library
// names exactly the module requirements the binary's packages come from.
func TestREADMEDependencies(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	direct := map[string]bool{}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && !strings.Contains(line, "// indirect") && strings.Contains(f[0], ".") {
			direct[f[0]] = true
		}
	}
	for _, bin := range []string{"xlatgw", "map66d", "handoffd"} {
		row := regexp.MustCompile("(?m)^\\| `" + bin + "` \\| ([^|]*) \\|$").FindStringSubmatch(string(readme))
		if row == nil {
			t.Errorf("README.md has no row for %s in its table of what the binaries add", bin)
			continue
		}
		out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./cmd/"+bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range strings.Fields(string(out)) {
			if direct[m] && !slices.Contains(want, m) {
				want = append(want, m)
			}
		}
		slices.Sort(want)
		got := strings.Fields(row[1])
		if !slices.Equal(got, want) {
			t.Errorf("README.md says %s adds %v; go list says %v", bin, got, want)
		}
	}
}

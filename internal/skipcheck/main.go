// Command skipcheck reads "go test -json" output and fails the run when a
// test skipped that the allowlist does not name: a CI that skipped a test
// it should have run has not passed. It prints what "go test" would have
// printed (each package's result, and the output of failed tests), then
// the skips, and exits 1 on a failure or an unlisted skip.
//
//	go test -json ./... | go run ./internal/skipcheck scripts/skips.txt
//
// The allowlist has one line per skip that is expected: a package, a test
// name (subtests as go test names them; a trailing * matches any suffix),
// and the reason, which it prints.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of test2json.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// allowed is one allowlist line.
type allowed struct {
	pkg, test, why string
}

func (a allowed) matches(pkg, test string) bool {
	if a.pkg != pkg {
		return false
	}
	if p, ok := strings.CutSuffix(a.test, "*"); ok {
		return strings.HasPrefix(test, p)
	}
	return a.test == test
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go test -json ./... | skipcheck ALLOWLIST")
		os.Exit(2)
	}
	allow, err := readAllowlist(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "skipcheck:", err)
		os.Exit(2)
	}
	ok, err := check(os.Stdin, os.Stdout, allow)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skipcheck:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func readAllowlist(path string) ([]allowed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []allowed
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want a package, a test and a reason", path, i+1)
		}
		out = append(out, allowed{f[0], f[1], strings.TrimSpace(f[2])})
	}
	return out, nil
}

// check reads the events from r and writes the report to w; ok is false
// when a test failed or skipped without leave.
func check(r io.Reader, w io.Writer, allow []allowed) (ok bool, err error) {
	type key struct{ pkg, test string }
	output := map[key][]string{}
	var skipped []key
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not test2json: a build error, say. Pass it on.
			fmt.Fprintln(w, sc.Text())
			failed = true
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			output[k] = append(output[k], e.Output)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, k)
			}
		case "fail":
			failed = true
			if e.Test != "" {
				fmt.Fprint(w, strings.Join(output[k], ""))
			} else {
				fmt.Fprintf(w, "FAIL\t%s\n", e.Package)
			}
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(w, "ok  \t%s\n", e.Package)
			} else {
				delete(output, k) // passed: its output is not wanted
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	slices.SortFunc(skipped, func(a, b key) int { return strings.Compare(a.pkg+" "+a.test, b.pkg+" "+b.test) })
	unlisted := 0
	for _, s := range skipped {
		why := strings.TrimSpace(lastSkipLine(output[s]))
		listed := false
		for _, a := range allow {
			if a.matches(s.pkg, s.test) {
				listed = true
				fmt.Fprintf(w, "skipped, as allowed: %s %s (%s)\n", s.pkg, s.test, a.why)
				break
			}
		}
		if !listed {
			unlisted++
			fmt.Fprintf(w, "SKIPPED, NOT ALLOWED: %s %s: %s\n", s.pkg, s.test, why)
		}
	}
	if unlisted > 0 {
		fmt.Fprintf(w, "%d tests skipped that this run should have run (see scripts/skips.txt)\n", unlisted)
	}
	return !failed && unlisted == 0, nil
}

// lastSkipLine is the line a skipped test printed last: its reason.
func lastSkipLine(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(out[i]); l != "" && !strings.HasPrefix(l, "--- SKIP") {
			return l
		}
	}
	return ""
}

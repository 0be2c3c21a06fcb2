package xlat

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// Every exported identifier of the library packages has a doc comment, as
// go doc -all shows them: functions and methods of exported types, types,
// and constants and variables (their own comment, a trailing one, or their
// group's).
func TestEveryExportedIdentifierDocumented(t *testing.T) {
	for _, dir := range modulePackages(t) {
		if strings.HasPrefix(dir, "cmd/") {
			continue // commands: their documentation is their usage
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		missing := func(pos token.Pos, what string) { t.Errorf("%s: %s has no doc comment", fset.Position(pos), what) }
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					switch d := d.(type) {
					case *ast.FuncDecl:
						if !d.Name.IsExported() || d.Doc != nil {
							continue
						}
						if d.Recv != nil {
							typ := d.Recv.List[0].Type
							if s, ok := typ.(*ast.StarExpr); ok {
								typ = s.X
							}
							if id, ok := typ.(*ast.Ident); ok && !id.IsExported() {
								continue // a method of an unexported type
							}
						}
						missing(d.Pos(), d.Name.Name)
					case *ast.GenDecl:
						for _, sp := range d.Specs {
							switch sp := sp.(type) {
							case *ast.TypeSpec:
								if sp.Name.IsExported() && sp.Doc == nil && d.Doc == nil {
									missing(sp.Pos(), "type "+sp.Name.Name)
								}
							case *ast.ValueSpec:
								for _, n := range sp.Names {
									if n.IsExported() && sp.Doc == nil && sp.Comment == nil && d.Doc == nil {
										missing(n.Pos(), n.Name)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// A doc comment starts with the name of what it documents, as go doc and
// gopls expect (staticcheck's ST1020–ST1022 say the same of exported
// identifiers; this holds unexported functions and types to it too, in
// the commands as well): "Name ...", or for a type "A Name ..." / "An
// Name ..." / "The Name ...".
func TestDocCommentsStartWithTheName(t *testing.T) {
	for _, dir := range modulePackages(t) {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		check := func(doc *ast.CommentGroup, name string, articles bool) {
			if doc == nil {
				return
			}
			words := strings.Fields(doc.Text())
			if len(words) > 1 && articles && (words[0] == "A" || words[0] == "An" || words[0] == "The") {
				words = words[1:]
			}
			if len(words) == 0 || strings.TrimRight(words[0], ".,:;") != name {
				t.Errorf("%s: the comment on %s starts %q", fset.Position(doc.Pos()), name, strings.Join(words[:min(len(words), 3)], " "))
			}
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					switch d := d.(type) {
					case *ast.FuncDecl:
						check(d.Doc, d.Name.Name, false)
					case *ast.GenDecl:
						for _, sp := range d.Specs {
							if ts, ok := sp.(*ast.TypeSpec); ok {
								doc := ts.Doc
								if doc == nil && len(d.Specs) == 1 {
									doc = d.Doc
								}
								check(doc, ts.Name.Name, true)
							}
						}
					}
				}
			}
		}
	}
}

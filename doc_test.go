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

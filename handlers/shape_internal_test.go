package handlers

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// shapeOf is only a shortcut: for every route of the rights table and
// every path built from any route's pattern, it admits each path the
// route's own expression matches, and it turns down the paths of the
// other routes that the expression turns down too (most of them).
func TestPathShapesAdmitEveryPathTheirPatternMatches(t *testing.T) {
	variable := regexp.MustCompile(`\{[^}]+\}`)
	var paths []string
	for endpoint := range rights {
		_, pattern, _ := strings.Cut(endpoint, " ")
		for _, value := range []string{"OCB0000001", "a.b", "x%2Fy", "é", "-"} {
			p := variable.ReplaceAllString(pattern, value)
			paths = append(paths, p, p+"/", p+"/extra", strings.TrimSuffix(p, "/")+"//")
		}
	}
	paths = append(paths, "/", "", "//", "/api", "/api/v1/contracts/a/b/c/d/e/f")
	spared := 0
	for endpoint := range rights {
		_, pattern, _ := strings.Cut(endpoint, " ")
		route := mux.NewRouter().NewRoute().Path(pattern)
		shape := shapeOf(pattern)
		for _, p := range paths {
			r := httptest.NewRequest("GET", "http://h/", nil)
			r.URL.Path = p
			matches := route.Match(r, &mux.RouteMatch{})
			admitted := shape(r, &mux.RouteMatch{})
			if matches && !admitted {
				t.Errorf("%s: the shape turns down %q, which the route matches", pattern, p)
			}
			if !admitted {
				spared++
			}
		}
	}
	if total := len(rights) * len(paths); spared < total*9/10 {
		t.Errorf("the shapes turned down %d of %d paths the routes do not match", spared, total)
	}
}

package web_test

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"

	"selfcare/web"
)

// uiScripts returns the UI's JavaScript modules by name.
func uiScripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	matches, err := fs.Glob(web.Assets(), "ui/*.js")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no ui/*.js: %v", err)
	}
	for _, m := range matches {
		b, err := fs.ReadFile(web.Assets(), m)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(m, "ui/")] = string(b)
	}
	return out
}

func TestScriptsNeverTurnStringsIntoMarkupOrCode(t *testing.T) {
	t.Parallel()
	sinks := regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\b|setAttribute\(\s*['"]on|createContextualFragment|DOMParser`)
	for name, src := range uiScripts(t) {
		for i, line := range strings.Split(src, "\n") {
			if sinks.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d builds markup or code from a string: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}

func TestEntryModuleIsImportedByNoOtherModule(t *testing.T) {
	t.Parallel()
	index, err := fs.ReadFile(web.Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	// The page names its entry points with a version (?v=); a module that
	// imported one by its plain URL would load a second instance of it.
	entries := regexp.MustCompile(`src="/ui/([^"]+\.js)"`).FindAllStringSubmatch(string(index), -1)
	if len(entries) != 1 {
		t.Fatalf("index.html loads %d scripts, want one entry module", len(entries))
	}
	entry := entries[0][1]
	for name, src := range uiScripts(t) {
		if strings.Contains(src, "'./"+entry+"'") {
			t.Errorf("%s imports the entry module %s", name, entry)
		}
	}
}

func TestBothLanguagesHaveEveryText(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(web.Assets(), "ui/messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var messages map[string]map[string]string
	if err := json.Unmarshal(raw, &messages); err != nil {
		t.Fatal(err)
	}
	en, fr := messages["en"], messages["fr"]
	if len(messages) != 2 || len(en) == 0 {
		t.Fatalf("messages.json has languages %v", keys(messages))
	}
	for k, v := range en {
		if strings.TrimSpace(v) == "" {
			t.Errorf("en %q is empty", k)
		}
		if f, ok := fr[k]; !ok || strings.TrimSpace(f) == "" {
			t.Errorf("fr lacks %q", k)
		}
	}
	for k := range fr {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	// Every text a module asks for by a literal key exists.
	used := regexp.MustCompile(`\bt\('([a-z0-9_.]+)'`)
	for name, src := range uiScripts(t) {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses text %q, which messages.json lacks", name, m[1])
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestModulesImportNoCycle checks that the UI's modules import each other
// without a cycle: a module of a cycle may run before the one it imports
// has defined what it exports, so pages share state through state.js
// rather than by importing the shell.
func TestModulesImportNoCycle(t *testing.T) {
	t.Parallel()
	imports := regexp.MustCompile(`(?m)^\s*import\s(?:[^'"]*?\sfrom\s)?['"]\./([\w.-]+\.js)['"]`)
	graph := map[string][]string{}
	for name, src := range uiScripts(t) {
		for _, m := range imports.FindAllStringSubmatch(src, -1) {
			graph[name] = append(graph[name], m[1])
		}
	}
	if len(graph["app.js"]) == 0 {
		t.Fatal("found no import in app.js: the import pattern is wrong")
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case onPath:
			t.Errorf("import cycle: %s", strings.Join(append(path, name), " → "))
			return
		case done:
			return
		}
		state[name] = onPath
		for _, dep := range graph[name] {
			visit(dep, append(path, name))
		}
		state[name] = done
	}
	names := make([]string, 0, len(graph))
	for name := range graph {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		visit(name, nil)
	}
}

package handlers

import "testing"

func TestDuplicateField(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1,"b":2}`:                         "",
		`{"a":1,"a":2}`:                         "a",
		`{"a":{"x":1},"b":{"x":2}}`:             "",
		`{"a":{"x":1,"x":2}}`:                   "a.x",
		`{"a":[{"x":1},{"x":1}],"c":1}`:         "",
		`{"a":[{"x":1,"y":[1,{"z":1,"z":2}]}]}`: "a.y.z",
		`{"a":{"b":{}},"a":1}`:                  "a",
		`[1,2]`:                                 "",
	} {
		got, ok := duplicateField([]byte(body))
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %t, want %q", body, got, ok, want)
		}
	}
}

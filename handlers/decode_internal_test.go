package handlers

import (
	"errors"
	"testing"

	"selfcare/domain"
)

func TestUnmarshalStrictNamesTheDuplicateField(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1,"b":2}`:                         "",
		`{"a":1,"a":2}`:                         "a",
		`{"a":{"x":1},"b":{"x":2}}`:             "",
		`{"a":{"x":1,"x":2}}`:                   "a.x",
		`{"a":[{"x":1},{"x":1}],"c":1}`:         "",
		`{"a":[{"x":1,"y":[1,{"z":1,"z":2}]}]}`: "a[0].y[1].z",
		`{"a":{"b":{}},"a":1}`:                  "a",
		`[1,2]`:                                 "",
	} {
		var v any
		err := unmarshalStrict([]byte(body), &v)
		var ve *domain.ValidationError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", body, err)
		case want != "" && (!errors.As(err, &ve) || ve.Errors[0].Field != want || ve.Errors[0].Code != "duplicate_field"):
			t.Errorf("%s: %v, want %s duplicate_field", body, err, want)
		}
	}
}

package jsonpath

import (
	"encoding/json"
	"testing"
)

func TestGet(t *testing.T) {
	var doc any
	json.Unmarshal([]byte(`{"access_token":"t","data":{"items":[{"id":1},{"id":2}],"odd key":"o"},"list":[10,20,30]}`), &doc)
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"$.access_token", "t", true},
		{"access_token", "t", true},
		{"$.data.items[1].id", 2.0, true},
		{`$.data["odd key"]`, "o", true},
		{`$['data']['odd key']`, "o", true},
		{"$.list[-1]", 30.0, true},
		{"$.list[3]", nil, false},
		{"$.missing", nil, false},
		{"$.access_token.deeper", nil, false},
		{"$.data.items.id", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Get(doc)
			if ok != tt.ok || got != tt.want {
				t.Errorf("Get = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "$..id", "$.items[*]", "$.a[?(@.x)]", "$.a[", "$x", `$["a"b"]`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded; want an error", bad)
		}
	}
}

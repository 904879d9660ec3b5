package token

import (
	"strings"
	"testing"
)

func TestCheckDistinct(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if err := CheckDistinct([]RoleFile{{"admin", "/s/token", a}, {"agent", "/s/agent.token", b}, {"read", "", ""}}); err != nil {
		t.Fatalf("distinct tokens refused: %v", err)
	}
	for _, tc := range []struct {
		files []RoleFile
		want  []string
	}{
		{[]RoleFile{{"admin", "/s/token", a}, {"agent", "/s/agent.token", a}},
			[]string{"the admin token (/s/token) and the agent token (/s/agent.token) are the same", "delete /s/agent.token"}},
		{[]RoleFile{{"admin", "/s/token", a}, {"agent", "/s/agent.token", b}, {"read", "/s/read.token", a}},
			[]string{"the admin token (/s/token) and the read token (/s/read.token)", "delete /s/read.token"}},
		{[]RoleFile{{"admin", "/s/token", a}, {"agent", "/s/agent.token", b}, {"read", "/s/read.token", b}},
			[]string{"the agent token (/s/agent.token) and the read token (/s/read.token)", "delete /s/read.token"}},
	} {
		err := CheckDistinct(tc.files)
		if err == nil {
			t.Errorf("%v: shared token accepted", tc.files)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
}

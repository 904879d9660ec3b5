package portproxy

import (
	"errors"
	"reflect"
	"testing"
)

func TestHostStateProblems(t *testing.T) {
	tests := []struct {
		name  string
		state HostState
		want  []string
	}{
		{"all well", HostState{Elevated: true, IPHelperRunning: true, IPHelperAutomatic: true}, nil},
		{"not elevated", HostState{IPHelperRunning: true, IPHelperAutomatic: true}, []string{"not-elevated"}},
		{"stopped", HostState{Elevated: true, IPHelperAutomatic: true}, []string{"iphlpsvc-stopped"}},
		{"stopped and manual", HostState{Elevated: true}, []string{"iphlpsvc-stopped"}},
		{"manual", HostState{Elevated: true, IPHelperRunning: true}, []string{"iphlpsvc-not-automatic"}},
		{"unknown", HostState{IPHelperErr: errors.New("access denied")}, []string{"not-elevated", "iphlpsvc-unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var codes []string
			for _, p := range tt.state.Problems() {
				if p.Message == "" || p.Hint == "" {
					t.Errorf("problem %+v lacks a message or a hint", p)
				}
				codes = append(codes, p.Code)
			}
			if !reflect.DeepEqual(codes, tt.want) {
				t.Errorf("codes = %q, want %q", codes, tt.want)
			}
		})
	}
}

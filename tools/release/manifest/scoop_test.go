package manifest

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestScoop(t *testing.T) {
	f, err := Scoop(testRelease())
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "scoop/wslfwd.json" {
		t.Errorf("path %q, want scoop/wslfwd.json", f.Path)
	}
	var got struct {
		Version      string
		Homepage     string
		License      string
		Bin          []string
		Checkver     string
		Architecture map[string]struct{ URL, Hash string }
		Autoupdate   struct {
			Architecture map[string]struct{ URL, Hash string }
			Hash         struct{ URL string }
		}
	}
	if err := json.Unmarshal(f.Data, &got); err != nil {
		t.Fatalf("the manifest is not JSON: %v\n%s", err, f.Data)
	}
	if got.Version != "1.2.3" || got.License != "MIT" || got.Homepage != "https://github.com/wslfwd/wslfwd" || got.Checkver != "github" {
		t.Errorf("version, license, homepage, checkver = %q, %q, %q, %q", got.Version, got.License, got.Homepage, got.Checkver)
	}
	if want := []string{"wslfwd.exe", "wslfwd-hostd.exe"}; !reflect.DeepEqual(got.Bin, want) {
		t.Errorf("bin = %q, want %q", got.Bin, want)
	}
	wantArch := map[string]struct{ URL, Hash string }{
		"64bit": {base + "wslfwd_1.2.3_windows_amd64.zip", hashAMD64},
		"arm64": {base + "wslfwd_1.2.3_windows_arm64.zip", hashARM64},
	}
	if !reflect.DeepEqual(got.Architecture, wantArch) {
		t.Errorf("architecture = %+v, want %+v", got.Architecture, wantArch)
	}
	wantAuto := map[string]struct{ URL, Hash string }{
		"64bit": {URL: "https://example.com/dl/v$version/wslfwd_$version_windows_amd64.zip"},
		"arm64": {URL: "https://example.com/dl/v$version/wslfwd_$version_windows_arm64.zip"},
	}
	if !reflect.DeepEqual(got.Autoupdate.Architecture, wantAuto) || got.Autoupdate.Hash.URL != "$baseurl/SHA256SUMS" {
		t.Errorf("autoupdate = %+v, want %+v and hashes from $baseurl/SHA256SUMS", got.Autoupdate, wantAuto)
	}
}

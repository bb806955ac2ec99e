package test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// authRegistry is a small read-only registry on 127.0.0.1 speaking the
// distribution API v2 with HTTP Basic auth: GET/HEAD /v2/ (the login
// check), manifests by tag or digest and blobs of one repository, served from
// an OCI layout folder. Every request without the right credentials gets
// 401 with a Basic challenge, as registry:2 with htpasswd auth answers.
type authRegistry struct {
	user, pass string
	repo, tag  string
	layout     string // OCI layout folder holding the image
	manifest   []byte
	digest     string // manifest digest, "sha256:…"
}

var registryPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs)/([^/]+)$`)

func (r *authRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="pocketdock-test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return
	}
	if req.URL.Path == "/v2/" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	m := registryPath.FindStringSubmatch(req.URL.Path)
	if m == nil || m[1] != r.repo {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`))
		return
	}
	var body []byte
	switch {
	case m[2] == "manifests" && (m[3] == r.tag || m[3] == r.digest):
		body = r.manifest
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", r.digest)
	case m[2] == "blobs" && strings.HasPrefix(m[3], "sha256:") && !strings.ContainsAny(m[3][7:], "/."):
		b, err := os.ReadFile(filepath.Join(r.layout, "blobs", "sha256", m[3][7:]))
		if err != nil {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`, http.StatusNotFound)
			return
		}
		body = b
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Docker-Content-Digest", m[3])
	default:
		http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if req.Method != http.MethodHead {
		w.Write(body)
	}
}

// startRegistry serves the busybox fixture as repo:tag on 127.0.0.1 (a
// free port) with the user pd / password s3cret; stopped when the test ends.
func startRegistry(t *testing.T, repo, tag string) (*authRegistry, string) {
	t.Helper()
	layout := filepath.Join(t.TempDir(), "layout")
	ociLayoutOf(t, filepath.Join(fixturesDir(), "busybox.tar"), layout, tag)
	var index struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	r := &authRegistry{user: "pd", pass: "s3cret", repo: repo, tag: tag, layout: layout, digest: index.Manifests[0].Digest}
	if r.manifest, err = os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(r.digest, "sha256:"))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return r, strings.TrimPrefix(srv.URL, "http://")
}

// authEntries reads an auth.json and returns its "auths" map.
func authEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
	out := map[string]string{}
	for k, v := range f.Auths {
		out[k] = v.Auth
	}
	return out
}

// login checks the credentials against the registry and stores them where
// pulls read them; logout removes them. Only loopback traffic.
func TestCLILoginPullLogout(t *testing.T) {
	needRoot(t)
	_, host := startRegistry(t, "pdtest/authbox", "latest")
	ref := host + "/pdtest/authbox:latest"
	home := t.TempDir()
	authFile := filepath.Join(t.TempDir(), "auth.json")
	r := cliRun{root: freshRoot(t), env: []string{"REGISTRY_AUTH_FILE=" + authFile, "HOME=" + home, "DOCKER_CONFIG=", "XDG_RUNTIME_DIR="}}
	basic := base64.StdEncoding.EncodeToString([]byte("pd:s3cret"))

	// Without a login the registry refuses the pull.
	if _, errs, code := r.run(t, "pull", ref); code != 125 || !strings.Contains(strings.ToLower(errs), "auth") {
		t.Fatalf("pull before login: %d %q; want 125 and an authentication error", code, errs)
	}
	// A wrong password is refused and nothing is stored.
	wrong := r
	wrong.stdin = "nope\n"
	if _, errs, code := wrong.run(t, "login", host, "-u", "pd", "--password-stdin"); code != 125 {
		t.Fatalf("login with a wrong password: %d %q; want 125", code, errs)
	}
	if got := authEntries(t, authFile); len(got) != 0 {
		t.Fatalf("a refused login stored %v", got)
	}
	// The right password: checked, stored in $REGISTRY_AUTH_FILE.
	right := r
	right.stdin = "s3cret\n"
	if out, errs, code := right.run(t, "login", "http://"+host+"/", "-u", "pd", "--password-stdin"); code != 0 || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login: %d %q %q", code, out, errs)
	}
	if got := authEntries(t, authFile); got[host] != basic || len(got) != 1 {
		t.Fatalf("auth file after login: %v; want %s → %s", got, host, basic)
	}
	// Pulls read the same file.
	if out, errs, code := r.run(t, "pull", ref, "--json"); code != 0 || !strings.Contains(out, ref) {
		t.Fatalf("pull after login: %d %q %q", code, out, errs)
	}
	if out, _, _ := r.run(t, "images"); !strings.Contains(out, ref) {
		t.Errorf("images after the pull: %s", out)
	}
	// Logout removes the entry; a second logout says so; pulls fail again.
	if out, errs, code := r.run(t, "logout", host); code != 0 || !strings.Contains(out, "Removed") {
		t.Fatalf("logout: %d %q %q", code, out, errs)
	}
	if got := authEntries(t, authFile); len(got) != 0 {
		t.Errorf("auth file after logout: %v", got)
	}
	if _, errs, code := r.run(t, "logout", host); code != 125 || !strings.Contains(errs, "not logged in") {
		t.Errorf("second logout: %d %q; want 125, not logged in", code, errs)
	}
	if _, _, code := r.run(t, "pull", ref); code != 125 {
		t.Errorf("pull after logout: %d; want 125", code)
	}
}

// Without $REGISTRY_AUTH_FILE, login writes containers/image's default
// ${XDG_RUNTIME_DIR}/containers/auth.json (podman's file), -p works, and
// logout --all empties it.
func TestCLILoginDefaultAuthFile(t *testing.T) {
	needRoot(t)
	_, host := startRegistry(t, "pdtest/authbox", "latest")
	xdg := t.TempDir()
	r := cliRun{root: freshRoot(t), env: []string{"REGISTRY_AUTH_FILE=", "DOCKER_CONFIG=", "XDG_RUNTIME_DIR=" + xdg, "HOME=" + t.TempDir()}}
	if _, errs, code := r.run(t, "login", host, "-u", "pd", "-p", "s3cret"); code != 0 {
		t.Fatalf("login -p: %d %q", code, errs)
	}
	authFile := filepath.Join(xdg, "containers", "auth.json")
	if got := authEntries(t, authFile); got[host] == "" {
		t.Fatalf("%s after login: %v", authFile, got)
	}
	if _, errs, code := r.run(t, "pull", host+"/pdtest/authbox"); code != 0 {
		t.Fatalf("pull with the default auth file: %d %q", code, errs)
	}
	if _, errs, code := r.run(t, "logout", "--all"); code != 0 {
		t.Fatalf("logout --all: %d %q", code, errs)
	}
	if got := authEntries(t, authFile); len(got) != 0 {
		t.Errorf("%s after logout --all: %v", authFile, got)
	}
	// Bad registry names: 125 naming the value.
	for _, bad := range []string{"Bad Host", "quay.io/me/app:tag"} {
		if _, errs, code := r.run(t, "login", bad, "-u", "pd", "-p", "x"); code != 125 || !strings.Contains(errs, bad) {
			t.Errorf("login %q: %d %q", bad, code, errs)
		}
	}
}

// Package image is pocketdock's image store: a containers/storage overlay
// store under the state root, filled by containers/image from registries
// (pull) and from local archives (import), and the read-write root
// filesystems ("storage containers") that pocketdock containers run on.
//
// Layout under the state root R (all paths are set explicitly; no other
// tool's storage.conf is ever read):
//
//	R/storage              containers/storage graph root (overlay driver)
//	R/storage/cache        containers/image blob-info cache (SQLite)
//	R/storage/tmp          temporary files of pulls and imports, one
//	                       proc-<pid>-<start> folder per process
//	R/run/storage          containers/storage run root (mount counts, locks)
//
// Registry and signature configuration: R/registries.conf (with drop-ins in
// R/registries.conf.d) and R/policy.json when present, else
// /etc/containers/registries.conf (with /etc/containers/registries.conf.d)
// and /etc/containers/policy.json when present, else built-in defaults:
// short names resolve to docker.io and every image is accepted. Registries
// on localhost, 127.0.0.1 and [::1] (any port) may be plain HTTP.
// Credentials come from the user's usual auth files, as podman finds them
// ($REGISTRY_AUTH_FILE, else containers/image's defaults; see Login).
//
// A program using this package must call
// go.podman.io/storage/pkg/reexec.Init() first thing in main (and return
// when it reports true): containers/storage re-executes the binary for some
// layer operations.
//
// Locking: containers/storage serialises every operation with its own file
// locks under R/storage and R/run/storage, so a Store may be used from many
// goroutines and many processes at once. Callers holding their own locks
// should take them before calling in here (lock order: store, container,
// containers/storage).
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.podman.io/image/v5/signature"
	imgtypes "go.podman.io/image/v5/types"
	"go.podman.io/storage"
	storagetypes "go.podman.io/storage/types"
)

// systemConfigDir is where other container tools keep their system-wide
// registry and signature configuration; it is the fallback after the state
// root's own files.
const systemConfigDir = "/etc/containers"

// Store is an open image store for one state root. It is safe for concurrent
// use by multiple goroutines; other processes may use the same state root at
// the same time. Close it when done (it never unmounts the root filesystems
// of running containers).
type Store struct {
	root      string // absolute config root (the state root)
	graphRoot string // absolute graph root, the key of sharedStores
	store     storage.Store
	sh        *sharedStore

	// sys is the template SystemContext for every containers/image
	// operation; copy it before changing fields per operation.
	sys imgtypes.SystemContext
	// policyPath is the policy.json in use, or "" for the built-in
	// accept-anything policy.
	policyPath string

	closeOnce sync.Once
	closeErr  error
}

// sharedStore counts the Stores of one process that share one
// containers/storage store: storage.GetStore hands out the same object for
// the same paths, so only the last Close may shut it down.
type sharedStore struct {
	store storage.Store
	refs  int
}

var (
	sharedMu     sync.Mutex
	sharedStores = map[string]*sharedStore{}

	primeOnce sync.Once
)

// primeStorageDefaults makes containers/storage compute (and cache, for the
// life of the process) its default options from an empty configuration
// instead of /etc/containers/storage.conf or $CONTAINERS_STORAGE_CONF, which
// may belong to another tool: storage.GetStore always loads those defaults,
// and a broken or foreign file there would otherwise fail or alter Open. The
// environment is restored right after, so child processes (podman, say) see
// it unchanged.
func primeStorageDefaults() {
	primeOnce.Do(func() {
		const confEnv, overrideEnv = "CONTAINERS_STORAGE_CONF", "CONTAINERS_STORAGE_CONF_OVERRIDE"
		oldConf, hadConf := os.LookupEnv(confEnv)
		oldOverride, hadOverride := os.LookupEnv(overrideEnv)
		_ = os.Setenv(confEnv, os.DevNull)
		_ = os.Unsetenv(overrideEnv)
		_, _ = storagetypes.DefaultStoreOptions()
		if hadConf {
			_ = os.Setenv(confEnv, oldConf)
		} else {
			_ = os.Unsetenv(confEnv)
		}
		if hadOverride {
			_ = os.Setenv(overrideEnv, oldOverride)
		}
	})
}

// Options name the folders of an image store. Every path is set explicitly:
// nothing is read from another tool's storage.conf.
type Options struct {
	// GraphRoot is containers/storage's graph root (images, layers, container
	// layers), e.g. /var/lib/pocketdock/storage. Required.
	GraphRoot string
	// RunRoot is containers/storage's run root (mount counts, locks), on tmpfs
	// so a reboot clears it, e.g. /run/pocketdock/storage. Required.
	RunRoot string
	// ConfigRoot is where the state root's own registries.conf and policy.json
	// are looked for (the state root itself). Required.
	ConfigRoot string
}

// OptionsForRoot returns the Options of state root root: graph root
// root/storage, run root root/run/storage, config root root.
func OptionsForRoot(root string) Options {
	return Options{GraphRoot: filepath.Join(root, "storage"), RunRoot: filepath.Join(root, "run", "storage"), ConfigRoot: root}
}

// Open opens the image store, creating it when missing: an overlay
// containers/storage store on o.GraphRoot and o.RunRoot, plus the
// containers/image configuration described in the package documentation
// (chosen once, here). The caller must run as root (the overlay driver
// mounts). Errors: ErrInvalidArgument for an empty path; a folder cannot be
// made, or the overlay driver cannot start (for example when the graph root
// sits on an overlay or other unsupported filesystem); they name the folder.
func Open(o Options) (*Store, error) {
	if o.GraphRoot == "" || o.RunRoot == "" || o.ConfigRoot == "" {
		return nil, fmt.Errorf("open image store: %w: empty path in %+v (want graph root, run root and config root)", ErrInvalidArgument, o)
	}
	abs, err := filepath.Abs(o.ConfigRoot)
	if err != nil {
		return nil, fmt.Errorf("open image store %q: %w", o.ConfigRoot, err)
	}
	graphRoot, err := filepath.Abs(o.GraphRoot)
	if err != nil {
		return nil, fmt.Errorf("open image store %q: %w", o.GraphRoot, err)
	}
	runRoot, err := filepath.Abs(o.RunRoot)
	if err != nil {
		return nil, fmt.Errorf("open image store %q: %w", o.RunRoot, err)
	}
	cacheDir := filepath.Join(graphRoot, "cache")
	tmpDir := filepath.Join(graphRoot, "tmp")
	for _, d := range []string{graphRoot, runRoot, cacheDir, tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store %q: %w", d, err)
		}
	}

	procTmp, err := processTempDir(tmpDir)
	if err != nil {
		return nil, fmt.Errorf("open image store %q: %w", tmpDir, err)
	}

	primeStorageDefaults()

	sharedMu.Lock()
	defer sharedMu.Unlock()
	sh := sharedStores[graphRoot]
	if sh == nil {
		st, err := storage.GetStore(storagetypes.StoreOptions{
			GraphRoot:       graphRoot,
			RunRoot:         runRoot,
			GraphDriverName: "overlay",
			// nodev: device nodes inside an image never work as devices;
			// pocketdock's /dev is a tmpfs with bind-mounted host nodes.
			GraphDriverOptions: []string{"overlay.mountopt=nodev"},
		})
		if err != nil {
			return nil, fmt.Errorf("open image store %q: %w", abs, err)
		}
		sh = &sharedStore{store: st}
		sharedStores[graphRoot] = sh
	}
	sh.refs++

	s := &Store{root: abs, graphRoot: graphRoot, store: sh.store, sh: sh}
	s.configure(cacheDir, procTmp)
	s.unmountStaleImageMounts()
	return s, nil
}

// configure fills s.sys and s.policyPath, choosing the registries and policy
// files in the documented order.
func (s *Store) configure(cacheDir, tmpDir string) {
	sys := imgtypes.SystemContext{
		BlobInfoCacheDir:     cacheDir,
		BigFilesTemporaryDir: tmpDir,
		// Never the user's ~/.cache short-name alias file of other tools.
		UserShortNameAliasConfPath: filepath.Join(cacheDir, "short-name-aliases.conf"),
	}
	switch {
	case fileExists(filepath.Join(s.root, "registries.conf")):
		sys.SystemRegistriesConfPath = filepath.Join(s.root, "registries.conf")
		sys.SystemRegistriesConfDirPath = filepath.Join(s.root, "registries.conf.d")
	case fileExists(filepath.Join(systemConfigDir, "registries.conf")):
		sys.SystemRegistriesConfPath = filepath.Join(systemConfigDir, "registries.conf")
		sys.SystemRegistriesConfDirPath = filepath.Join(systemConfigDir, "registries.conf.d")
	default:
		// Built-in: an empty configuration (no search registries, so short
		// names go to docker.io; see pullCandidates).
		sys.SystemRegistriesConfPath = os.DevNull
		sys.SystemRegistriesConfDirPath = filepath.Join(s.root, "registries.conf.d")
	}
	switch {
	case fileExists(filepath.Join(s.root, "policy.json")):
		s.policyPath = filepath.Join(s.root, "policy.json")
		sys.RegistriesDirPath = filepath.Join(s.root, "registries.d")
	case fileExists(filepath.Join(systemConfigDir, "policy.json")):
		s.policyPath = filepath.Join(systemConfigDir, "policy.json")
		sys.RegistriesDirPath = filepath.Join(systemConfigDir, "registries.d")
	default:
		s.policyPath = ""
		sys.RegistriesDirPath = filepath.Join(s.root, "registries.d")
	}
	sys.SignaturePolicyPath = s.policyPath
	applyAuthFile(&sys)
	s.sys = sys
}

// policyContext returns a fresh signature policy context for one copy; the
// caller must Destroy it. Errors name the policy file.
func (s *Store) policyContext() (*signature.PolicyContext, error) {
	var policy *signature.Policy
	if s.policyPath == "" {
		policy = &signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}}
	} else {
		p, err := signature.NewPolicyFromFile(s.policyPath)
		if err != nil {
			return nil, fmt.Errorf("signature policy %q: %w", s.policyPath, err)
		}
		policy = p
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return nil, fmt.Errorf("signature policy: %w", err)
	}
	return pc, nil
}

// Close releases the store. The last Close of a state root in this process
// shuts containers/storage down (store.Shutdown(false)): layers still mounted
// — the root filesystems of containers that keep running after this process
// exits — stay mounted, and that is not an error. Close is idempotent; the
// Store must not be used afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		s.sh.refs--
		if s.sh.refs > 0 {
			return
		}
		delete(sharedStores, s.graphRoot)
		os.RemoveAll(s.sys.BigFilesTemporaryDir) // this process's own (processTempDir)
		_, err := s.store.Shutdown(false)
		if err != nil && !errors.Is(err, storage.ErrLayerUsedByContainer) {
			s.closeErr = fmt.Errorf("close image store %q: %w", s.root, err)
		}
		s.store.Free()
	})
	return s.closeErr
}

// Storage returns the underlying containers/storage store (for snapshots and
// other callers that need layers directly). It stays valid until Close.
func (s *Store) Storage() storage.Store { return s.store }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

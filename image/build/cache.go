package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// cacheVersion changes whenever what a key covers changes, so old entries
// stop matching.
const cacheVersion = 1

// cacheInput is everything a step's result depends on. Its canonical JSON,
// hashed, is the step's cache key.
type cacheInput struct {
	Version int `json:"v"`
	// Parent is the image the step runs on ("" = scratch).
	Parent string `json:"parent"`
	// Config is the run configuration in force (ENV, USER, WORKDIR, SHELL,
	// CMD, LABEL, … — all of it, so that a cached image's config is right).
	Config dockerspec.DockerOCIImageConfig `json:"config"`
	// Args are the ARG values in scope ("K=V", sorted): RUN sees them.
	Args []string `json:"args,omitempty"`
	// History are the created_by lines of config-only steps not yet
	// committed; they become part of the step image's history.
	History []string `json:"history,omitempty"`
	// Step is the instruction: its keyword and expanded arguments (the argv
	// of a RUN, the sources, destination and flags of a COPY).
	Step []string `json:"step"`
	// Content is the digest of the files a COPY or ADD takes (paths,
	// modes, owners, link targets, data), or of the source image.
	Content string `json:"content,omitempty"`
}

// key returns the hex sha256 of in's JSON.
func (in cacheInput) key() string {
	in.Version = cacheVersion
	sort.Strings(in.Args)
	b, err := json.Marshal(in)
	if err != nil {
		// Only plain strings, maps and slices: cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

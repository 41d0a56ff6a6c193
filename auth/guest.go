package auth

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/livecart/livecart/api"
)

// GuestTTL is how long a guest token lasts.
const GuestTTL = 24 * time.Hour

// MaxNameLen is the longest display name, in code points.
const MaxNameLen = 40

// GuestHandler answers POST /api/guest {"name"}: 201 {"token","sub","name"}
// for a viewer with a fresh sub. allow limits requests per client address
// (nil: unlimited); it is called concurrently.
func GuestHandler(s *Signer, allow func(r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow != nil && !allow(r) {
			api.WriteError(w, r, nil, api.New(api.RateLimited, "too many guest sign-ins from this address; try again shortly"))
			return
		}
		var body struct {
			Name string `json:"name"`
		}
		if err := api.DecodeJSON(w, r, 1<<10, &body); err != nil {
			api.WriteError(w, r, nil, err)
			return
		}
		name, err := CleanName(body.Name)
		if err != nil {
			api.WriteError(w, r, nil, err)
			return
		}
		p := Principal{Sub: "guest-" + uuid.NewString(), Name: name, Role: Viewer}
		tok, err := s.Issue(p, GuestTTL)
		if err != nil {
			api.WriteError(w, r, nil, err)
			return
		}
		api.WriteJSON(w, http.StatusCreated, map[string]string{"token": tok, "sub": p.Sub, "name": p.Name})
	})
}

// CleanName trims a display name and checks it: 1 to MaxNameLen code points
// of valid UTF-8 with no control characters.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", api.New(api.BadRequest, "name is required")
	}
	if err := api.Name("name", name, MaxNameLen); err != nil {
		return "", err
	}
	return name, nil
}

package api

import "net/http"

// Router is where a part registers its endpoints (Go 1.22 patterns). An
// *http.ServeMux is one; the server wraps its mux to know every route it
// serves.
type Router interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

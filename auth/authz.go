package auth

import (
	"github.com/livecart/livecart/api"
)

// Owner is who owns a stream or a product: the host that created it and,
// when that host's token named an org, the org. An org's resources belong
// to every host of the org; a resource without an org belongs to its host.
type Owner struct {
	Sub string `json:"sub"`
	Org string `json:"org,omitempty"`
}

// IsZero reports whether o names nobody (a resource that does not exist
// yet, or data from before owners were kept).
func (o Owner) IsZero() bool { return o.Sub == "" && o.Org == "" }

// OwnerOf is the owner of what p creates.
func OwnerOf(p *Principal) Owner {
	if p == nil {
		return Owner{}
	}
	return Owner{Sub: p.Sub, Org: p.Org}
}

// Action is something not everyone may do.
type Action int

// The actions. Each is decided by Can over a Resource; nothing else in
// livecart decides who may do what.
const (
	// Watch is reading or joining a stream: anyone, within a token's scope.
	Watch Action = iota
	// Buy is putting a stream's products in a cart or ordering them: any
	// signed-in principal within its token's scope.
	Buy
	// Moderate is pinning, answering, deleting, muting, banning, slow mode,
	// a stream's orders and funnel: its host (an owner), a host or
	// moderator whose token names the stream, or an admin.
	Moderate
	// Own is what only the stream's host does: publishing, ending the show,
	// the lineup, coupons. An owning host, or an admin.
	Own
	// Create is creating a stream or a product: a host or an admin whose
	// token is not limited to one stream.
	Create
	// EditProduct is replacing an existing product, or putting it in a
	// lineup: an admin, or a host that owns it (Resource.Owner), whose token
	// is not limited to one stream. A product without an owner (made before
	// owners were kept) is an admin's alone. A new product is Create.
	EditProduct
	// ManageOrder is reading or cancelling an order (Resource.Stream is its
	// stream, Owner the stream's owner, Buyer its buyer): the buyer, the
	// stream's host or an admin, within the token's scope.
	ManageOrder
	// Account is a signed-in principal's own cart and orders. A token
	// limited to a stream sees only that stream's part of them.
	Account
)

var actionNames = [...]string{"watch", "buy", "moderate", "own", "create", "edit product", "manage order", "account"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Resource is what an action is on.
type Resource struct {
	// Stream is the stream acted on; "" for actions on no one stream
	// (Create, EditProduct, Account).
	Stream string
	// Owner owns the stream (stream actions, ManageOrder) or the product
	// (EditProduct).
	Owner Owner
	// Buyer is an order's buyer (ManageOrder).
	Buyer string
}

// On is the Resource of an action on stream, owned by owner.
func On(stream string, owner Owner) Resource { return Resource{Stream: stream, Owner: owner} }

// InScope reports whether p's token may be used on stream at all.
func (p *Principal) InScope(stream string) bool {
	return p != nil && (p.Stream == "" || p.Stream == stream)
}

// Owns reports whether p is a host that owns what o owns. A host acting
// for an org (its token names one) owns that org's resources and nothing
// else; a host acting for no org owns what it created without one. Since
// brands mint their own subs, the same sub in two orgs is two people.
// Admins act on everything but own nothing.
func (p *Principal) Owns(o Owner) bool {
	if p == nil || p.Role != Host || o.IsZero() {
		return false
	}
	if p.Org != "" || o.Org != "" {
		return p.Org == o.Org
	}
	return p.Sub == o.Sub
}

// Can reports whether p may do a on res. A nil p is anonymous and may only
// Watch.
func (p *Principal) Can(a Action, res Resource) bool {
	if p == nil {
		return a == Watch
	}
	switch a {
	case Create, Account:
		if a == Create {
			return p.Stream == "" && (p.Role == Host || p.Role == Admin)
		}
		return true
	case EditProduct:
		if p.Stream != "" || (p.Role != Host && p.Role != Admin) {
			return false
		}
		return p.Role == Admin || p.Owns(res.Owner)
	}
	if !p.InScope(res.Stream) {
		return false
	}
	switch a {
	case Watch, Buy:
		return true
	case Moderate:
		return p.RankIn(res.Stream, res.Owner) >= RankModerator
	case Own:
		return p.Role == Admin || p.Owns(res.Owner)
	case ManageOrder:
		return (res.Buyer != "" && p.Sub == res.Buyer) || p.Role == Admin || p.Owns(res.Owner)
	}
	return false
}

// Check is Can as an error: nil when allowed, unauthorized for an anonymous
// principal, forbidden with a reason otherwise.
func Check(p *Principal, a Action, res Resource) error {
	if p.Can(a, res) {
		return nil
	}
	if p == nil {
		return ErrUnauthorized
	}
	switch {
	case p.Stream != "" && (a == Create || a == EditProduct):
		return api.Errorf(api.Forbidden, "this token is for stream %q only: %w", p.Stream, ErrForbidden)
	case a != Create && a != EditProduct && a != Account && !p.InScope(res.Stream):
		return api.Errorf(api.Forbidden, "this token is for stream %q only: %w", p.Stream, ErrForbidden)
	}
	switch a {
	case Moderate:
		return api.Errorf(api.Forbidden, "only this stream's host, its moderators or an admin may do this: %w", ErrForbidden)
	case Own:
		return api.Errorf(api.Forbidden, "only this stream's host or an admin may do this: %w", ErrForbidden)
	case Create:
		return api.Errorf(api.Forbidden, "only a host or an admin may create streams and products: %w", ErrForbidden)
	case EditProduct:
		if p.Role == Host || p.Role == Admin {
			return api.Errorf(api.Forbidden, "this product belongs to another host: %w", ErrForbidden)
		}
		return api.Errorf(api.Forbidden, "only a host or an admin may change the catalog: %w", ErrForbidden)
	case ManageOrder:
		return api.Errorf(api.Forbidden, "only the buyer, the stream's host or an admin may do this: %w", ErrForbidden)
	}
	return ErrForbidden
}

// Rank is a principal's place in a stream's room: who may mute, ban and
// delete whom.
type Rank int

// The ranks, lowest first.
const (
	RankViewer Rank = iota
	RankModerator
	RankHost
	RankAdmin
)

// RankIn is p's rank in stream, owned by owner: an admin in scope; a host
// that owns the stream or whose token names it; a moderator whose token
// names it; anyone else (anonymous included) a viewer.
func (p *Principal) RankIn(stream string, owner Owner) Rank {
	if !p.InScope(stream) {
		return RankViewer
	}
	switch p.Role {
	case Admin:
		return RankAdmin
	case Host:
		if p.Owns(owner) || p.Stream == stream {
			return RankHost
		}
	case Moderator:
		if p.Stream == stream {
			return RankModerator
		}
	}
	return RankViewer
}

// Outranks reports whether someone of rank r may act on (mute, ban, delete
// the lines of) someone of rank target: moderators act on viewers, hosts
// on viewers and moderators, admins on anyone.
func (r Rank) Outranks(target Rank) bool {
	return r == RankAdmin || (r >= RankModerator && r > target)
}

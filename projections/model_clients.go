package projections

import "github.com/stamp-oauth/stamp/domain"

// clientsByOrigin is the unique index of the web origins live clients
// registered (CORS): the ids of the origin's live clients, comma-separated,
// in order. Several clients may share an origin, so its entries are
// joined and left (see join); a deleted client leaves all of its own.
const clientsByOrigin unique = "clients/by-origin/"

// The clients model: clients/id/<client id>, domain.Client as JSON,
// deleted ones kept, flagged, found by web origin. Never purged.
//
// The origin index needs no new layout version: events from before web
// origins carry none, so a store built before it has no entry to miss.
func clientsModel(f domain.Fold[domain.Client]) *model[domain.Client] {
	return &model[domain.Client]{
		name: ModelClients,
		fold: f,
		uniques: []uniqueIndex[domain.Client]{{x: clientsByOrigin, shared: true,
			values: originsOf}},
	}
}

// originsOf returns the web origins c holds in the origin index: its own
// while it exists, else none.
func originsOf(c domain.Client) []string {
	if !c.Exists() {
		return nil
	}
	return c.WebOrigins
}

package projections

import "github.com/stamp-oauth/stamp/domain"

// The clients model: clients/id/<client id>, domain.Client as JSON,
// deleted ones kept, flagged. No index; never purged.
func clientsModel(f domain.Fold[domain.Client]) *model[domain.Client] {
	return &model[domain.Client]{name: ModelClients, fold: f}
}

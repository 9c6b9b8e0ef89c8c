package projections

import "github.com/stamp-oauth/stamp/domain"

// The signing keys model: keys/id/<kid>, domain.SigningKey as JSON,
// retired ones kept, flagged. No index; never purged.
func keysModel(f domain.Fold[domain.SigningKey]) *model[domain.SigningKey] {
	return &model[domain.SigningKey]{name: ModelKeys, fold: f}
}

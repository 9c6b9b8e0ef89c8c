package projections

import "testing"

// TestModelsDeclaredInOrder holds the declarations to the models' order:
// the writer folds model i with folders[i] and checkpoints it under
// modelAt(i).
func TestModelsDeclaredInOrder(t *testing.T) {
	ms := declare()
	for i, f := range ms.folders {
		if f == nil {
			t.Fatalf("folders[%d] (%s) is not declared", i, modelAt(i))
		}
		if got, want := f.named(), modelAt(i); got != want {
			t.Errorf("folders[%d] is %s; want %s", i, got, want)
		}
	}
}

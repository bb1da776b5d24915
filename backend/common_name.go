package backend

import (
	"fmt"
	"unicode/utf8"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// maxCommonNameLen is X.520's upper bound on a common name (ub-common-name),
// in characters.
const maxCommonNameLen = 64

// checkCommonName reports what is wrong with a common name rendered from a
// caller's identity (entity names, alias metadata, OIDC claims, a client
// certificate's CN, a token's display name): identity data is not ours to
// trust, and the name goes into the certificate and into a comment line of
// the device's wg-quick file. The error names common_name_template, the
// setting that chose the data.
func checkCommonName(cn string) error {
	if err := wgquick.CheckText(cn); err != nil {
		return fmt.Errorf("%w: the common name %.64q rendered for the caller %v", errTemplate, cn, err)
	}
	if n := utf8.RuneCountInString(cn); n > maxCommonNameLen {
		return fmt.Errorf("%w: the common name %.64q... rendered for the caller is %d characters long, over the %d X.520 allows",
			errTemplate, cn, n, maxCommonNameLen)
	}
	return nil
}

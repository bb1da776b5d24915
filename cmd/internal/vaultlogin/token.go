package vaultlogin

import (
	"context"
	"errors"

	vault "github.com/hashicorp/vault/api"
)

// tokenAuth "logs in" with a Vault token given to the daemon: it looks the
// token up (auth/token/lookup-self, in Vault's default policy), so that a
// token Vault does not know is refused as any bad credential is, and
// answers as a login would, with the token's accessor, lifetime and
// renewability for the lifetime watcher.
type tokenAuth struct {
	token string
}

// Login looks the token up with client and returns it as a login's answer.
func (t tokenAuth) Login(ctx context.Context, client *vault.Client) (*vault.Secret, error) {
	client.SetToken(t.token)
	self, err := client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if self == nil || self.Data == nil {
		return nil, errors.New("auth/token/lookup-self returned nothing")
	}
	accessor, _ := self.TokenAccessor()
	ttl, _ := self.TokenTTL()
	renewable, _ := self.TokenIsRenewable()
	policies, _ := self.TokenPolicies()
	var entityID string
	if id, ok := self.Data["entity_id"].(string); ok {
		entityID = id
	}
	return &vault.Secret{Auth: &vault.SecretAuth{
		ClientToken:   t.token,
		Accessor:      accessor,
		Policies:      policies,
		TokenPolicies: policies,
		EntityID:      entityID,
		LeaseDuration: int(ttl.Seconds()),
		Renewable:     renewable,
	}}, nil
}

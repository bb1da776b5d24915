# Policy of devices issuing on role laptop: that, and nothing else.
path "wg/issue/laptop" {
  capabilities = ["update"]
}

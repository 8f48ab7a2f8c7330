// Azure Cache for Redis: shared rate-limit windows and provider availability. Its keys expire by
// themselves (no retention job needed). The connection URL goes to Key Vault.
param name string
param location string
param tags object
param keyVaultName string
param skuName string = 'Standard'
param skuFamily string = 'C'
param skuCapacity int = 1

resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: skuFamily
      capacity: skuCapacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    redisVersion: '6'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource redisUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'donatello-redis-url'
  properties: {
    value: 'rediss://:${redis.listKeys().primaryKey}@${redis.properties.hostName}:${redis.properties.sslPort}/0'
  }
}

output hostName string = redis.properties.hostName
output urlSecretUri string = redisUrl.properties.secretUri

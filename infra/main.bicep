// DonatelloAI on Azure: PostgreSQL Flexible Server, Cosmos DB (audit), Azure Cache for Redis, Blob
// Storage (images, lifecycle Hot -> Cool -> Archive), Key Vault, and Container Apps for the API and the
// worker running as one user-assigned managed identity. See docs/deploy.md.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.parameters.json \
//     -p postgresAdministratorPassword=... appDatabasePassword=... image=<registry>/donatello:<tag>
targetScope = 'resourceGroup'

@description('Short name used in every resource name, e.g. donatello-prod')
param namePrefix string = 'donatello'
param location string = resourceGroup().location
param environmentName string = 'production'
@description('Container image of the application (infra/Dockerfile)')
param image string
@description('Where clients reach the API, e.g. https://images.example.com.au')
param publicBaseUrl string

param postgresAdministratorLogin string = 'donatello_owner'
@secure()
param postgresAdministratorPassword string
@description('The application login: create it in PostgreSQL with this password and GRANT donatello_app TO it')
param appDatabaseLogin string = 'donatello_api'
@secure()
param appDatabasePassword string

@description('Entra ID sign-in; leave empty to configure later')
param entraTenantId string = ''
param entraClientId string = ''
@description('Key Vault secret URI of the Entra client secret (add the secret to the vault first)')
param entraClientSecretUri string = ''

@description('Resource id of an Azure OpenAI account the app calls keyless (its identity is granted Cognitive Services OpenAI User there); empty: none')
param azureOpenAiResourceId string = ''

// Seed 004's retention schedule; the app's retention job reads the same numbers (Settings).
param retentionArchiveDays int = 90
param retentionColdDays int = 365

var tags = {
  application: 'donatello'
  environment: environmentName
}
var unique = uniqueString(resourceGroup().id, namePrefix)
var cosmosDatabase = 'donatelloai-audit'
var cosmosContainer = 'audit_logs'
var blobContainer = 'generations'
var databaseName = 'donatello'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${namePrefix}-identity'
    location: location
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('${namePrefix}-kv-${unique}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: '${namePrefix}-pg-${unique}'
    location: location
    tags: tags
    administratorLogin: postgresAdministratorLogin
    administratorPassword: postgresAdministratorPassword
    databaseName: databaseName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: take('${namePrefix}-cosmos-${unique}', 44)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    databaseName: cosmosDatabase
    containerName: cosmosContainer
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    name: '${namePrefix}-redis-${unique}'
    location: location
    tags: tags
    keyVaultName: vault.outputs.name
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take(toLower(replace('${namePrefix}img${unique}', '-', '')), 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    keyVaultName: vault.outputs.name
    containerName: blobContainer
    coolAfterDays: retentionArchiveDays
    archiveAfterDays: retentionColdDays
  }
}

// Keyless model calls: the identity may call the referenced Azure OpenAI account, in whichever
// subscription and resource group it lives. Model keys kept in this deployment's vault are already
// readable (Key Vault Secrets User, modules/keyvault.bicep).
var openAiIdParts = split(
  empty(azureOpenAiResourceId)
    ? '/subscriptions/${subscription().subscriptionId}/resourceGroups/${resourceGroup().name}/providers/Microsoft.CognitiveServices/accounts/none'
    : azureOpenAiResourceId,
  '/'
)

module openAiAccess 'modules/openai-access.bicep' = if (!empty(azureOpenAiResourceId)) {
  name: 'openai-access'
  scope: resourceGroup(openAiIdParts[2], openAiIdParts[4])
  params: {
    accountName: last(openAiIdParts)
    principalId: identity.outputs.principalId
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: take('${namePrefix}-kv-${unique}', 24)
}

// The API and worker connect as the application login (RLS applies); migrations run as the owner.
resource databaseUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'donatello-database-url'
  properties: {
    value: 'postgresql+psycopg://${appDatabaseLogin}:${uriComponent(appDatabasePassword)}@${postgres.outputs.host}:5432/${databaseName}?sslmode=require&target_session_attrs=read-write&connect_timeout=5&keepalives_idle=30&keepalives_interval=10&keepalives_count=3'
  }
  dependsOn: [
    vault
  ]
}

resource databaseOwnerUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'donatello-database-owner-url'
  properties: {
    value: 'postgresql+psycopg://${postgresAdministratorLogin}:${uriComponent(postgresAdministratorPassword)}@${postgres.outputs.host}:5432/${databaseName}?sslmode=require'
  }
  dependsOn: [
    vault
  ]
}

var settings = concat(
  [
    { name: 'DONATELLO_ENVIRONMENT', value: environmentName }
    { name: 'DONATELLO_LOG_LEVEL', value: 'INFO' }
    { name: 'DONATELLO_HOST', value: '0.0.0.0' }
    { name: 'DONATELLO_PORT', value: '8000' }
    { name: 'DONATELLO_PUBLIC_BASE_URL', value: publicBaseUrl }
    { name: 'DONATELLO_COSMOS_ENDPOINT', value: cosmos.outputs.endpoint }
    { name: 'DONATELLO_COSMOS_DATABASE', value: cosmosDatabase }
    { name: 'DONATELLO_COSMOS_CONTAINER', value: cosmosContainer }
    { name: 'DONATELLO_BLOB_CONTAINER', value: blobContainer }
    { name: 'DONATELLO_BLOB_API_VERSION', value: '' } // empty: the SDK's default service version
    { name: 'DONATELLO_KEY_PROVIDER', value: 'azure-key-vault' }
    { name: 'DONATELLO_KEY_VAULT_URL', value: vault.outputs.uri }
    { name: 'DONATELLO_RETENTION_ARCHIVE_DAYS', value: string(retentionArchiveDays) }
    { name: 'DONATELLO_RETENTION_COLD_DAYS', value: string(retentionColdDays) }
    { name: 'DONATELLO_METRICS_ENABLED', value: 'true' }
    { name: 'DONATELLO_TRACING_ENABLED', value: 'false' }
  ],
  empty(entraTenantId) ? [] : [
    { name: 'DONATELLO_ENTRA_TENANT_ID', value: entraTenantId }
    { name: 'DONATELLO_ENTRA_CLIENT_ID', value: entraClientId }
  ]
)

module apps 'modules/containerapps.bicep' = {
  name: 'containerapps'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    image: image
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    settings: settings
    databaseUrlSecretUri: databaseUrl.properties.secretUri
    databaseOwnerUrlSecretUri: databaseOwnerUrl.properties.secretUri
    redisUrlSecretUri: redis.outputs.urlSecretUri
    blobConnectionStringSecretUri: storage.outputs.connectionStringSecretUri
    entraClientSecretUri: entraClientSecretUri
  }
}

output apiUrl string = 'https://${apps.outputs.apiFqdn}'
output keyVaultUri string = vault.outputs.uri
output cosmosEndpoint string = cosmos.outputs.endpoint
output postgresHost string = postgres.outputs.host

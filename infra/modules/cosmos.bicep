// Cosmos DB for NoSQL: the append-only audit log (seed 004 "Cosmos DB Schema"). Must agree with
// src/donatello/audit/cosmos.py (PARTITION_KEY, DEFAULT_TTL_SECONDS, INDEXING_POLICY) — tests/platform/test_infra.py
// checks it. Data-plane access is through the managed identity (Cosmos DB Built-in Data Contributor).
param accountName string
param location string
param tags object
param principalId string
param databaseName string = 'donatelloai-audit'
param containerName string = 'audit_logs'
param maxThroughput int = 40000

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: true
      }
    ]
    disableLocalAuth: true // keys off: managed identity only
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/user_id'
        ]
        kind: 'Hash'
      }
      defaultTtl: 220896000 // 7 years
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          { path: '/user_id/?' }
          { path: '/timestamp/?' }
          { path: '/event_type/?' }
          { path: '/resource_id/?' }
          { path: '/status/?' }
          { path: '/organization_id/?' }
          { path: '/resource_type/?' }
          { path: '/chain_seq/?' }
          { path: '/id/?' }
        ]
        excludedPaths: [
          { path: '/metadata/*' }
          { path: '/user_agent/?' }
          { path: '/*' }
        ]
        compositeIndexes: [
          [
            { path: '/timestamp', order: 'descending' }
            { path: '/id', order: 'descending' }
          ]
        ]
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput // seed: 4,000 RU/s autoscaling to 40,000
      }
    }
  }
}

// Cosmos DB Built-in Data Contributor (a data-plane SQL role, not an Azure RBAC role).
var dataContributor = '00000000-0000-0000-0000-000000000002'

resource dataAccess 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, principalId, dataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributor}'
    principalId: principalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name

// Container Apps: the API (`donatello serve`, external ingress) and the worker (`donatello worker`, no
// ingress), one image, one user-assigned identity. Secrets are Key Vault references resolved with that
// identity; every DONATELLO_* name must exist in src/donatello/config.py (tests/platform/test_infra.py).
param namePrefix string
param location string
param tags object
param image string
param identityId string
param identityClientId string
param settings array // plain DONATELLO_* variables shared by the API and the worker
param databaseUrlSecretUri string
param databaseOwnerUrlSecretUri string
param redisUrlSecretUri string
param blobConnectionStringSecretUri string
param entraClientSecretUri string = ''
@description('Server processes per API replica (`donatello serve --workers`), one per vCPU it is given')
@minValue(1)
@maxValue(4)
param apiWorkers int = 2
param apiMinReplicas int = 2
param apiMaxReplicas int = 10
param workerReplicas int = 2

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

var keyVaultSecrets = concat(
  [
    { name: 'database-url', keyVaultUrl: databaseUrlSecretUri, identity: identityId }
    { name: 'redis-url', keyVaultUrl: redisUrlSecretUri, identity: identityId }
    { name: 'blob-connection-string', keyVaultUrl: blobConnectionStringSecretUri, identity: identityId }
  ],
  empty(entraClientSecretUri) ? [] : [
    { name: 'entra-client-secret', keyVaultUrl: entraClientSecretUri, identity: identityId }
  ]
)

var secretEnv = concat(
  [
    { name: 'DONATELLO_DATABASE_URL', secretRef: 'database-url' }
    { name: 'DONATELLO_REDIS_URL', secretRef: 'redis-url' }
    { name: 'DONATELLO_BLOB_CONNECTION_STRING', secretRef: 'blob-connection-string' }
  ],
  empty(entraClientSecretUri) ? [] : [
    { name: 'DONATELLO_ENTRA_CLIENT_SECRET', secretRef: 'entra-client-secret' }
  ]
)

// DefaultAzureCredential picks the user-assigned identity by its client id (Cosmos, Key Vault).
var env = concat(settings, secretEnv, [
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
])

var identity = {
  type: 'UserAssigned'
  userAssignedIdentities: {
    '${identityId}': {}
  }
}

resource api 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-api'
  location: location
  tags: tags
  identity: identity
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      secrets: keyVaultSecrets
      ingress: {
        external: true
        targetPort: 8000
        transport: 'http'
        allowInsecure: false
      }
    }
    template: {
      containers: [
        {
          name: 'api'
          image: image
          command: [
            'donatello'
            'serve'
            '--workers'
            string(apiWorkers)
          ]
          env: concat(env, [
            { name: 'DONATELLO_IN_PROCESS_WORKER', value: 'false' }
          ])
          resources: {
            cpu: json(string(apiWorkers))
            memory: '${apiWorkers * 2}Gi'
          }
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/health/live'
                port: 8000
              }
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/health/ready'
                port: 8000
              }
            }
          ]
        }
      ]
      scale: {
        minReplicas: apiMinReplicas
        maxReplicas: apiMaxReplicas
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: '50'
              }
            }
          }
        ]
      }
    }
  }
}

resource worker 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-worker'
  location: location
  tags: tags
  identity: identity
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      secrets: keyVaultSecrets
    }
    template: {
      containers: [
        {
          name: 'worker'
          image: image
          command: [
            'donatello'
            'worker'
          ]
          env: env
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
        }
      ]
      scale: {
        minReplicas: workerReplicas
        maxReplicas: workerReplicas
      }
    }
  }
}

// `donatello migrate` as the schema owner, started by hand (or by the release pipeline) before a rollout.
resource migrate 'Microsoft.App/jobs@2024-03-01' = {
  name: '${namePrefix}-migrate'
  location: location
  tags: tags
  identity: identity
  properties: {
    environmentId: environment.id
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 1800
      replicaRetryLimit: 0
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      secrets: [
        { name: 'database-owner-url', keyVaultUrl: databaseOwnerUrlSecretUri, identity: identityId }
      ]
    }
    template: {
      containers: [
        {
          name: 'migrate'
          image: image
          command: [
            'donatello'
            'migrate'
          ]
          env: [
            { name: 'DONATELLO_DATABASE_URL', secretRef: 'database-owner-url' }
          ]
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
    }
  }
}

output apiFqdn string = api.properties.configuration.ingress.fqdn

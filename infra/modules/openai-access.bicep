// Lets the app's managed identity call an Azure OpenAI resource without a key: Entra ID tokens for
// https://cognitiveservices.azure.com (a model configured with {"kind": "managed-identity"}).
param accountName string
param principalId string

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

// Cognitive Services OpenAI User: inference calls (image generation) only; it cannot read the
// resource's keys or change its deployments.
var openAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource openAiAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: account
  name: guid(account.id, principalId, openAiUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

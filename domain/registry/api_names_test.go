package registry

// apiEventTypes are the event type names API.md promises consumers.
var apiEventTypes = []string{
	"ContractCreated", "UserAddedToContract", "RolesChanged", "UserRemovedFromContract",
	"ConsoleAccountProvisioned", "ConsoleAccountUpdated", "ConsoleAccountDeprovisioned",
	"PasswordSet", "ProfileUpdated", "ApiPasswordSet", "AccessKeyCreated", "AccessKeyDeleted",
	"OrderPlaced", "OrderCompleted", "OrderRejected", "SubscriptionCreated",
	"SubscriptionStarted", "SubscriptionEnded", "UsageReported", "InvoiceIssued",
}

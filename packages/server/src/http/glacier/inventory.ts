// Which archives an inventory job lists (glacier.md, "Domain records to Glacier JSON"): the
// selection lives in the SDK with the inventory formats; re-exported for the front end.
export { selectInventory, type InventorySelection } from '@oas/sdk';

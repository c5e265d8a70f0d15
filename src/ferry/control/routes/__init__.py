"""The API routers: one module per resource type; arm_routes.py holds what their list and
delete routes share."""

RG_PREFIX = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    "/providers/Microsoft.StorageMover"
)
MOVER_PATH = RG_PREFIX + "/storageMovers/{mover}"

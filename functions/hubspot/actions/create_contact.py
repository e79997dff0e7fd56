from nango import create_action

# Our input names -> HubSpot's internal property names.
PROPERTIES = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "company": "company",
}


def run(nango, input):
    properties = {PROPERTIES[k]: v for k, v in input.items()}
    r = nango.post("/crm/v3/objects/contacts", data={"properties": properties})
    return {
        "id": r.data["id"],
        "email": r.data["properties"]["email"],
        "created_at": r.data["createdAt"],
    }


action = create_action(
    description="Create a contact in HubSpot CRM",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            # HubSpot deduplicates contacts by email, so it is the one required field.
            "email": {"type": "string", "format": "email"},
            "first_name": {"type": "string", "minLength": 1},
            "last_name": {"type": "string", "minLength": 1},
            "phone": {"type": "string", "minLength": 1},
            "company": {"type": "string", "minLength": 1},
        },
        "required": ["email"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            # HubSpot object ids are numeric strings.
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "email": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "email", "created_at"],
        "additionalProperties": False,
    },
    exec=run,
)

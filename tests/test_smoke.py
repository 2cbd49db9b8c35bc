"""The foundation answers: keys work, lists have CloudStack's shape."""


def test_admin_lists_itself(admin):
    body = admin.ok("listAccounts")
    assert body["count"] == 1
    assert body["account"][0]["name"] == "admin"
    assert body["account"][0]["user"][0]["username"] == "admin"


def test_list_apis_describes_every_command(admin):
    body = admin.ok("listApis")
    names = {a["name"] for a in body["api"]}
    assert {"listApis", "registerUserKeys", "queryAsyncJobResult"} <= names
    for api in body["api"]:
        assert isinstance(api["isasync"], bool)
        assert isinstance(api["description"], str)
        assert isinstance(api["params"], list) and isinstance(api["response"], list)
        for p in api["params"]:
            assert {"name", "type", "description", "required"} <= set(p)

"""Every command of the guide's CLI sections, run with the real aws CLI against Sluice, using the
guide's JSON documents and checking the documented result."""

import json


def create_first_pipeline(sluice, guide_dir):
    _, out, _ = sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)
    return out


def test_create_a_pipeline_cli_returns_the_structure_of_the_entire_pipeline(sluice, guide_dir):
    out = create_first_pipeline(sluice, guide_dir)
    expected = json.loads((guide_dir / "pipeline.json").read_text())["pipeline"]
    assert out["pipeline"] == expected
    # "To view the pipeline you just created ... use the get-pipeline-state command."
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    assert [s["stageName"] for s in state["stageStates"]] == ["Source", "Beta"]


def test_create_from_get_pipeline_output_as_the_guide_describes(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    # aws codepipeline get-pipeline --name MyFirstPipeline >pipeline.json, then edit the name.
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    second = {"pipeline": dict(got["pipeline"], name="MySecondPipeline")}
    (guide_dir / "second.json").write_text(json.dumps(second))
    _, out, _ = sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://second.json", cwd=guide_dir)
    assert out["pipeline"]["name"] == "MySecondPipeline"
    assert out["pipeline"]["version"] == 1


def test_taken_name_is_refused_by_the_cli(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    code, _, err = sluice.aws(
        "codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", check=False, cwd=guide_dir
    )
    assert code != 0
    assert "PipelineNameInUseException" in err


def test_edit_a_pipeline_cli_adds_the_production_stage_and_increments_the_version(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    pipeline = got["pipeline"]
    pipeline["stages"].append(json.loads((guide_dir / "production-stage.json").read_text()))
    (guide_dir / "pipeline.json").write_text(json.dumps({"pipeline": pipeline}))
    _, out, _ = sluice.aws("codepipeline", "update-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)
    # "This command returns the entire structure of the edited pipeline."
    assert [s["name"] for s in out["pipeline"]["stages"]] == ["Source", "Beta", "Production"]
    assert out["pipeline"]["version"] == 2
    _, v1, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline", "--pipeline-version", "1")
    assert len(v1["pipeline"]["stages"]) == 2


def test_edit_with_a_github_source_masks_the_oauth_token(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    pipeline = got["pipeline"]
    source = json.loads((guide_dir / "github-source-stage.json").read_text())
    # The guide: "You must supply a value for OAuthToken" when adding the action.
    source["actions"][0]["configuration"]["OAuthToken"] = "ghp_conformance_secret"
    pipeline["stages"][0] = source
    (guide_dir / "edit.json").write_text(json.dumps({"pipeline": pipeline}))
    _, out, _ = sluice.aws("codepipeline", "update-pipeline", "--cli-input-json", "file://edit.json", cwd=guide_dir)
    assert out["pipeline"]["stages"][0]["actions"][0]["configuration"]["OAuthToken"] == "****"
    # Editing another part keeps the masked token.
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    assert "ghp_conformance_secret" not in json.dumps(got)
    got["pipeline"]["stages"].append(json.loads((guide_dir / "production-stage.json").read_text()))
    (guide_dir / "edit2.json").write_text(json.dumps({"pipeline": got["pipeline"]}))
    _, out, _ = sluice.aws("codepipeline", "update-pipeline", "--cli-input-json", "file://edit2.json", cwd=guide_dir)
    assert out["pipeline"]["version"] == 3


def test_view_a_pipeline_cli(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    _, listed, _ = sluice.aws("codepipeline", "list-pipelines")
    assert [p["name"] for p in listed["pipelines"]] == ["MyFirstPipeline"]
    assert listed["pipelines"][0]["version"] == 1
    assert isinstance(listed["pipelines"][0]["created"], (int, float, str))
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    assert got["pipeline"]["name"] == "MyFirstPipeline"
    assert got["metadata"]["pipelineArn"] == "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    assert state["pipelineName"] == "MyFirstPipeline"
    assert state["pipelineVersion"] == 1
    assert "inboundTransitionState" not in state["stageStates"][0]
    assert state["stageStates"][1]["inboundTransitionState"] == {"enabled": True}


def test_disable_or_enable_transitions_cli(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    _, out, _ = sluice.aws(
        "codepipeline", "disable-stage-transition", "--pipeline-name", "MyFirstPipeline",
        "--stage-name", "Beta", "--transition-type", "Inbound", "--reason", "My Reason",
    )
    assert out is None  # "The command returns nothing."
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    t = state["stageStates"][1]["inboundTransitionState"]
    assert t["enabled"] is False
    assert t["disabledReason"] == "My Reason"
    assert t["lastChangedBy"] == "arn:aws:iam::111111111111:root"
    assert "lastChangedAt" in t
    _, out, _ = sluice.aws(
        "codepipeline", "enable-stage-transition", "--pipeline-name", "MyFirstPipeline",
        "--stage-name", "Beta", "--transition-type", "Inbound",
    )
    assert out is None
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    assert state["stageStates"][1]["inboundTransitionState"]["enabled"] is True


def test_delete_a_pipeline_cli(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    _, out, _ = sluice.aws("codepipeline", "delete-pipeline", "--name", "MyFirstPipeline")
    assert out is None  # "This command returns nothing."
    _, listed, _ = sluice.aws("codepipeline", "list-pipelines")
    assert listed["pipelines"] == []
    code, _, err = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline", check=False)
    assert code != 0 and "PipelineNotFoundException" in err


def test_create_a_custom_action_cli(sluice, guide_dir):
    _, out, _ = sluice.aws(
        "codepipeline", "create-custom-action-type", "--cli-input-json", "file://MyCustomAction.json", cwd=guide_dir
    )
    t = out["actionType"]
    assert t["id"] == {"category": "Build", "owner": "Custom", "provider": "My-Build-Provider-Name", "version": "1"}
    assert t["settings"]["entityUrlTemplate"] == "https://my-build-instance/job/{Config:ProjectName}/"
    prop = t["actionConfigurationProperties"][0]
    assert (prop["name"], prop["required"], prop["key"], prop["secret"]) == ("ProjectName", True, True, False)
    assert t["inputArtifactDetails"] == {"maximumCount": 1, "minimumCount": 1}
    assert t["outputArtifactDetails"] == {"maximumCount": 0, "minimumCount": 0}
    _, listed, _ = sluice.aws("codepipeline", "list-action-types", "--action-owner-filter", "Custom")
    assert [a["id"]["provider"] for a in listed["actionTypes"]] == ["My-Build-Provider-Name"]
    _, out, _ = sluice.aws(
        "codepipeline", "delete-custom-action-type", "--category", "Build",
        "--provider", "My-Build-Provider-Name", "--action-version", "1",
    )
    _, listed, _ = sluice.aws("codepipeline", "list-action-types", "--action-owner-filter", "Custom")
    assert listed["actionTypes"] == []


def test_validation_errors_reach_the_cli_with_their_type(sluice, guide_dir):
    doc = json.loads((guide_dir / "pipeline.json").read_text())
    doc["pipeline"]["stages"][1]["actions"][0]["inputArtifacts"] = [{"name": "Nowhere"}]
    (guide_dir / "bad.json").write_text(json.dumps(doc))
    code, _, err = sluice.aws(
        "codepipeline", "create-pipeline", "--cli-input-json", "file://bad.json", check=False, cwd=guide_dir
    )
    assert code != 0
    assert "InvalidStructureException" in err and "Nowhere" in err


def test_restart_after_kill_9_keeps_what_was_acknowledged(sluice, guide_dir):
    create_first_pipeline(sluice, guide_dir)
    sluice.aws(
        "codepipeline", "disable-stage-transition", "--pipeline-name", "MyFirstPipeline",
        "--stage-name", "Beta", "--transition-type", "Inbound", "--reason", "kept",
    )
    sluice.kill9()
    sluice.start()
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    assert state["stageStates"][1]["inboundTransitionState"]["disabledReason"] == "kept"

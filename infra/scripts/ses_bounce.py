"""Reports a bounce (or, with KIND=complaint, a complaint) of email to ADDRESS the way SES does:
its event JSON published to the mail feedback topic, which the local stack subscribes the
notifications queue to. The emulator's SES never bounces by itself.

    make bounce TO=billing@acme.example CUSTOMER=cus_...
    KIND=complaint make bounce TO=billing@acme.example

CUSTOMER names whose email bounced (the tag SES gives back); without it only operators see
the suppression.
"""
import json
import os
import sys

import boto3

address = sys.argv[1]
kind = os.environ.get("KIND", "bounce")
topic_name = os.environ.get("MAIL_FEEDBACK_TOPIC_NAME", "billing-mail-feedback")
sns = boto3.client(
    "sns",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
topic = next(
    (t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":" + topic_name)),
    None,
)
if topic is None:
    sys.exit(f"no topic {topic_name}: is `make dev` running?")
mail = {"source": "billing@example.com", "destination": [address]}
if os.environ.get("CUSTOMER"):
    mail["tags"] = {"customer_id": [os.environ["CUSTOMER"]]}
if kind == "complaint":
    event = {
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse"},
        "mail": mail,
    }
else:
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": address, "action": "failed", "status": "5.1.1",
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        },
        "mail": mail,
    }
sns.publish(TopicArn=topic, Message=json.dumps(event))
print(f"{kind} of {address} reported; the notifier suppresses it at its next drain")

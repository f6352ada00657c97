"""Create (or reset the password of) a user of an MLflow server running the basic-auth app.

Run it as the admin: MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD are the admin's; the
new user's password comes from MLFLOW_NEW_USER_PASSWORD (never from the command line, where
`ps` and the shell history would keep it). Give each person a user, and the cluster's jobs one
of their own (its credentials go into the Ray nodes' environment, see cluster/README.md).

    MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=... MLFLOW_NEW_USER_PASSWORD=... \\
        python cluster/mlflow/create_user.py --tracking-uri http://mlflow:5000 --username a3m-jobs
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--username", required=True)
    parser.add_argument("--admin", action="store_true", help="make the user an admin")
    args = parser.parse_args(argv)
    password = os.environ.get("MLFLOW_NEW_USER_PASSWORD", "")
    if not args.tracking_uri:
        parser.error("--tracking-uri (or MLFLOW_TRACKING_URI) is required")
    if len(password) < 12:  # the auth app's own minimum
        parser.error("set MLFLOW_NEW_USER_PASSWORD (12 characters or more)")

    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    auth = get_app_client("basic-auth", tracking_uri=args.tracking_uri)
    try:
        auth.create_user(args.username, password)
        action = "created"
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.update_user_password(args.username, password)
        action = "password reset for"
    if args.admin:
        auth.update_user_admin(args.username, True)
    print(f"{action} user {args.username!r} on {args.tracking_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

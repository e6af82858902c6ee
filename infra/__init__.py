"""The mage-gcp Pulumi program: Mage on Cloud Run with Cloud SQL, GCS and BigQuery."""

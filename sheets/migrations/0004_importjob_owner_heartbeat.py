from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sheets', '0003_operation_actor_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='owner',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='importjob',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importjob',
            name='path',
            field=models.CharField(blank=True, help_text="The upload's temporary copy.", max_length=1000),
        ),
    ]

# recipe-ssm-bootstrap:install (v1). Run once, as an administrator, on the machine whose image becomes
# your base: it installs a start-up task that registers the SSM agent with the activation recipe makes
# for each build (docs/workspaces.md, docs/appstream.md: "How the SSM agent gets onto the builder").
$ErrorActionPreference = 'Stop'
$dir = Join-Path $env:ProgramData 'recipe'
New-Item -ItemType Directory -Force -Path $dir | Out-Null
$boot = @'
# Registers this machine's SSM agent with the activation kept in /recipe/activation/<its name>.
$region = '@REGION@'
$profileName = '@PROFILE@'
$name = @NAME@
if (Test-Path (Join-Path $env:ProgramData 'Amazon\SSM\InstanceData\registration')) { exit 0 }
for ($i = 0; $i -lt 360; $i++) {
    try {
        $p = Get-SSMParameterValue -Name "/recipe/activation/$name" -WithDecryption $true -ProfileName $profileName -Region $region
        $id, $code = $p.Parameters[0].Value -split ' '
        & (Join-Path $env:ProgramFiles 'Amazon\SSM\amazon-ssm-agent.exe') -register -y -id $id -code $code -region $region
        if ($LASTEXITCODE -eq 0) { Restart-Service AmazonSSMAgent; exit 0 }
    } catch { }
    Start-Sleep -Seconds 10
}
exit 1
'@
Set-Content -Path (Join-Path $dir 'ssm-bootstrap.ps1') -Value $boot -Encoding UTF8
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -ExecutionPolicy Bypass -File `"$dir\ssm-bootstrap.ps1`""
$trigger = New-ScheduledTaskTrigger -AtStartup
Register-ScheduledTask -TaskName 'recipe-ssm-bootstrap' -Action $action -Trigger $trigger -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
